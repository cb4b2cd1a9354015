#!/usr/bin/env bash
# COMMAND: bash benchmarks/launch_kill_resume.sh [/tmp/sweep8]   (tiny SES config: the launcher, not the model, is measured)
# 8 tiny SES runs through the local launcher, SIGKILLed (whole process group) once run 4 of 8
# (index 3) has checkpointed its first epoch, then restarted.
set -u
cd "$(dirname "$0")/.."
ROOT=${1:-/tmp/sweep8}
rm -rf "$ROOT"
TINY="--config.dataset.num_days=4 --config.dataset.repeats=8 --config.batch_size=8 --config.num_epochs=2 --config.eval.train_examples=8 --config.eval.studies=() --config.eval.ica_days=0 --config.eval.embedded_anomalies=0 --config.model.lstm_ae.bidirectional_features=16 --config.model.lstm_ae.encoder_features=8 --config.model.lstm_ae.decoder_features=16 --config.dataset.data_dir=$ROOT.tfds"
echo "load before: $(cat /proc/loadavg)"
.venv/bin/python -m launch.expand --config configs/ses_hkb.py $TINY --sweep learning_rate=1e-3,2e-3,3e-3,4e-3 --sweep seed=0,1 --root "$ROOT" | head -1
t0=$(date +%s.%N)
setsid nice -n 10 .venv/bin/python -m launch.local "$ROOT/runs.jsonl" > "$ROOT/first.out" 2>&1 &
pid=$!
target=$(ls -d "$ROOT"/runs 2>/dev/null; sed -n 4p "$ROOT/runs.jsonl" | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)['workdir'])")
echo "kill when $target has a checkpoint"
while true; do
  if ls "$target/checkpoints" 2>/dev/null | grep -qx '[0-9]*'; then break; fi
  sleep 0.05
done
kill -9 -- -$pid
t1=$(date +%s.%N)
sleep 1
echo "killed after $(echo "$t1 - $t0" | bc) s"
.venv/bin/python -m launch.summary "$ROOT/runs.jsonl" | grep -E "^\| 0|Launch"
for d in "$ROOT"/runs/*; do [ -f "$d/summary.json" ] && stat -c '%Y %n' "$d/summary.json"; done > "$ROOT/done_before.txt"
find "$ROOT"/runs -path '*checkpoints*' -type f -printf '%T@ %p\n' | sort > "$ROOT/ckpt_before.txt"
t2=$(date +%s.%N)
nice -n 10 .venv/bin/python -m launch.local "$ROOT/runs.jsonl" > "$ROOT/second.out" 2>&1
rc=$?
t3=$(date +%s.%N)
echo "restart exit $rc after $(echo "$t3 - $t2" | bc) s"
head -1 "$ROOT/second.out"
cat "$ROOT/launch_summary.md"
while read -r t f; do echo "$t $(stat -c %Y "$f") $f"; done < "$ROOT/done_before.txt" | awk '{print ($1==$2 ? "unchanged" : "CHANGED"), $3}'
find "$ROOT"/runs -path '*checkpoints*' -type f -printf '%T@ %p\n' | sort > "$ROOT/ckpt_after.txt"
for f in $(awk '{print $2}' "$ROOT/done_before.txt" | xargs -n1 dirname); do
  diff <(grep "$f/" "$ROOT/ckpt_before.txt") <(grep "$f/" "$ROOT/ckpt_after.txt") > /dev/null && echo "checkpoints unchanged: $(basename $f)" || echo "checkpoints CHANGED: $f"
done
grep -h "resuming from" "$ROOT"/logs/*.log
echo "load after: $(cat /proc/loadavg)"
