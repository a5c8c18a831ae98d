#!/usr/bin/env bash
# Issue 21: under a compromised client that controls 1 of 30 devices a round (fault `lie`:
# lying weights, forged evaluation reports, infinite losses), every aggregation rule must end
# within 0.02 RMSE of the fault-free run, or stop with a message naming the device, and never
# report "completed" with a non-finite model. Runs ML-100K without secure aggregation (the
# robust rules need it off), each rule with and without the liar, and prints a table.
#
#   scripts/compromised-client-rmse.sh [ROUNDS]     # needs a release build and data/ml-100k
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-50}
bin=${FEDSIM_BIN:-.build/release/fedsim}
out=${OUT:-runs/compromised}
rm -rf "$out"
mkdir -p "$out"
# The settings movielens-100k.yaml had when this was measured (its issue-18 re-tuning added a
# validation split, early stopping, shrinkage, l2 0.05 and a decaying step).
common=(--set secure_aggregation.protocol=none --set training.devices_per_round=30
  --set training.rounds="$rounds" --set evaluation.every="$rounds" --quiet
  --set data.split.validation=false --set training.early_stopping.enabled=false --set training.item_shrinkage=0
  --set training.local.l2=0.01 --set training.local.learning_rate_schedule=constant --set evaluation.bias_baseline.enabled=false)
lie='runtime.faults=[{kind: lie, process: 1, round: 1}]'
printf '| rule | fault-free RMSE | with the liar | difference | liar updates refused | reports refused | status | model finite |\n|---|---|---|---|---|---|---|---|\n'
for rule in mean median trimmed_mean norm_bounded; do
  clean=$("$bin" run scenarios/movielens-100k.yaml "${common[@]}" --set training.aggregation=$rule --out "$out/$rule-clean" | tail -1)
  hostile=$("$bin" run scenarios/movielens-100k.yaml "${common[@]}" --set training.aggregation=$rule --set "$lie" --out "$out/$rule-lie" | tail -1) || true
  python3 - "$rule" "$clean" "$hostile" <<'PY'
import json, math, struct, sys
rule, clean, hostile = sys.argv[1:4]
def final(d):
    lines = [json.loads(l) for l in open(d + "/metrics.jsonl") if l.strip()]
    ev = [l["eval"] for l in lines if "eval" in l]
    return lines, (ev[-1]["rmse"] if ev else float("nan")), (ev[-1].get("refused_reports", 0) if ev else 0)
def finite(d):
    b = open(d + "/model.bin", "rb").read()
    return all(math.isfinite(x) for x in struct.unpack("<%df" % (len(b) // 4), b[: len(b) // 4 * 4]))
_, a, _ = final(clean)
lines, b, reports = final(hostile)
status = json.load(open(hostile + "/summary.json")).get("status", "?")
refused = sum(l.get("rejected", 0) for l in lines)
print(f"| {rule} | {a:.4f} | {b:.4f} | {b - a:+.4f} | {refused} in {len(lines)} rounds | {reports} | {status} | {finite(hostile)} |")
PY
done
