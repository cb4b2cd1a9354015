"""Batch runs on clusters: one manifest of train commands, and launchers that consume it.

Run from the repository root (the package is not installed):

  python -m launch.expand --config configs/ses_hkb.py --sweep learning_rate=1e-3,2e-3 \
      --sweep seed=0,1 --root /shared/launches/lr_seed          # -> /shared/.../runs.jsonl
  python -m launch.local /shared/launches/lr_seed/runs.jsonl [--parallel 4]
  python -m launch.slurm /shared/launches/lr_seed/runs.jsonl --gpus_per_node 8   # sbatch array
  python -m launch.tpu_vm /shared/launches/lr_seed/runs.jsonl --tpu NAME --zone ZONE
  python -m launch.kubernetes /shared/launches/lr_seed/runs.jsonl --image IMAGE --accelerator gpu
  python -m launch.summary /shared/launches/lr_seed/runs.jsonl   # the table, at any time

The manifest (`runs.jsonl`, format in launch/manifest.py) has one line per run: its id, its train
command (`python -m precursor_jax.train --config ... --config.x=y --workdir ...`), its workdir,
config and overrides. Every launcher runs line i through `python -m launch.run MANIFEST --index i`,
which applies the one resume rule: a run whose workdir holds summary.json is done and skipped; any
other run is (re)started, and the train command resumes from its workdir's last checkpoint. So a
launcher that was killed, preempted or resubmitted finishes the rest without redoing finished runs.
At the end (and after every run) the table `launch_summary.md` / `.csv` is written beside the
manifest: run id, overrides, status, the task's headline metric from summary.json, wall time.

The workdirs must be on a file system that every host of a run sees, at the same path.
"""
