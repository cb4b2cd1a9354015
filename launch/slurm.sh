#!/usr/bin/env bash
# Train on a SLURM cluster: one task per node, every GPU of the node visible to it.
#
#   sbatch --nodes=1 --gpus-per-node=8 launch/slurm.sh configs/ses_hkb.py:paper /shared/runs/ses_hkb_paper
#   sbatch --nodes=2 --gpus-per-node=8 launch/slurm.sh configs/ses_hkb.py:paper /shared/runs/ses_hkb_paper \
#       --config.batch_size=256
#
# With more than one node, jax.distributed.initialize() picks the coordinator from SLURM's variables
# (precursor_jax.training.parallel.maybe_initialize_distributed). The workdir must be on a file system that
# every node sees. Resubmitting with the same workdir resumes from its last checkpoint; --requeue lets SLURM
# do that after a preemption.
#SBATCH --job-name=precursor_jax
#SBATCH --ntasks-per-node=1
#SBATCH --requeue
#SBATCH --time=04:00:00
#SBATCH --output=%x-%j.out
set -euo pipefail
config=${1:?usage: sbatch launch/slurm.sh CONFIG WORKDIR [--config.field=value ...]}
workdir=${2:?usage: sbatch launch/slurm.sh CONFIG WORKDIR [--config.field=value ...]}
shift 2
python="${PYTHON:-python}"
srun --ntasks-per-node=1 "$python" -m precursor_jax.train --config "$config" --workdir "$workdir" "$@"
