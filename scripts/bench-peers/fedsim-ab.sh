#!/usr/bin/env bash
# Before/after on the issue-24 workload in one run: federated MF on ML-100K, 100 devices a
# round, dim 16, one epoch of per-rating SGD (batch 1), lr 0.05, L2 1e-4, plain aggregation,
# 2 client processes. Alternates two builds (A = baseline, B = candidate) N times each and
# prints device-updates/s from each run's median round, and the ratio of the medians.
#   scripts/bench-peers/fedsim-ab.sh BASELINE_BIN_DIR CANDIDATE_BIN_DIR [N] [ROUNDS] [SCENARIO --set ...]
# With a SCENARIO, its own settings and the given --set overrides replace the workload above
# (central DP at 100,000 devices: scenarios/scale-100k.yaml --set secure_aggregation.protocol=none
# --set privacy.mechanism=central --set evaluation.every=0).
set -euo pipefail
cd "$(dirname "$0")/../.."
a=$1 b=$2 n=${3:-3} rounds=${4:-60}
shift $(($# < 4 ? $# : 4))
scenario=scenarios/movielens-100k.yaml
out=runs/bench-ab
rm -rf "$out"
mkdir -p "$out"
# The last two lines set back what movielens-100k.yaml gained in its issue-18 re-tuning
# (validation, early stopping, shrinkage, a decaying step), so the workload stays issue 24's.
sets=(--set secure_aggregation.protocol=none --set training.local.epochs=1 --set training.local.batch_size=1
  --set training.local.l2=0.0001 --set evaluation.every=0 --set "training.rounds=$rounds"
  --set data.split.validation=false --set training.early_stopping.enabled=false --set training.item_shrinkage=0
  --set training.local.learning_rate_schedule=constant --set evaluation.bias_baseline.enabled=false)
if [ $# -gt 0 ]; then
  scenario=$1
  shift
  sets=("$@" --set "training.rounds=$rounds")
fi
for i in $(seq "$n"); do
  for side in A B; do
    bin=$a
    [ "$side" = B ] && bin=$b
    dir=$("$bin/fedsim" run "$scenario" --quiet --out "$out/$side" "${sets[@]}" | tail -1)
    echo "$side $dir" >> "$out/runs.txt"
  done
done
python3 - "$out/runs.txt" <<'PY'
import json, statistics, sys
rates = {"A": [], "B": []}
for line in open(sys.argv[1]):
    side, d = line.split()
    rows = [json.loads(l) for l in open(d + "/metrics.jsonl") if l.strip()]
    rows = [r for r in rows if r.get("finished")][1:]  # the first round includes start-up
    rate = statistics.median(r["finished"] for r in rows) / statistics.median(r["round_seconds"] for r in rows)
    ups = [r["communication"]["bytes_up_per_update"] for r in rows if "communication" in r]
    up = statistics.median(ups) if ups else float("nan")  # secure rounds report bytes elsewhere
    rates[side].append(rate)
    print(f"{side}: {rate:7.0f} device-updates/s (median round), {up:9.0f} B up per update  {d}")
ma, mb = statistics.median(rates["A"]), statistics.median(rates["B"])
print(f"median A {ma:.0f}, B {mb:.0f} updates/s; B/A = {mb / ma:.2f}")
PY
