#!/usr/bin/env bash
# Train on a Cloud TPU VM (one host or a pod slice): the same command runs on every worker.
#
#   launch/tpu_vm.sh my-tpu us-central2-b configs/ses_hkb.py:paper /mnt/shared/runs/ses_hkb_paper
#
# Prerequisites on every worker: this repository checked out at ~/precursor_jax and installed with
# `pip install -e . "jax[tpu]"`. On a pod slice jax.distributed.initialize() finds the other workers by itself;
# the workdir must be a file system all workers share (e.g. a Filestore mount). Rerunning resumes.
set -euo pipefail
tpu=${1:?usage: launch/tpu_vm.sh TPU_NAME ZONE CONFIG WORKDIR [--config.field=value ...]}
zone=${2:?usage: launch/tpu_vm.sh TPU_NAME ZONE CONFIG WORKDIR [...]}
config=${3:?usage: launch/tpu_vm.sh TPU_NAME ZONE CONFIG WORKDIR [...]}
workdir=${4:?usage: launch/tpu_vm.sh TPU_NAME ZONE CONFIG WORKDIR [...]}
shift 4
extra=$(printf ' %q' "$@")
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command \
  "cd ~/precursor_jax && python -m precursor_jax.train --config $config --workdir $workdir$extra"
