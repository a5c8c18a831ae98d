#!/usr/bin/env bash
# make bench-peers: the issue-24 workload in FedSim, pfl-research and Flower, one after the
# other in one run on this machine, then device-updates/s (median round) and FedSim's ratio
# to each peer. The workload: federated biased MF on ML-100K, every user a device, 100
# devices a round, dim 16, one epoch of per-rating SGD, lr 0.05, L2 1e-4, plain aggregation
# (per-item weighted mean). The peers' local training is mf_local.py (NumPy); each peer also
# reports nothing but what its framework measured. Needs a release build and data/ml-100k.
#   ROUNDS (FedSim, default 60), PEER_ROUNDS (pfl, default 20), FLOWER_ROUNDS (default 6)
# SECAGG=1 adds the same workload under SecAgg+ in FedSim (scenarios/movielens-100k.yaml as
# shipped: secagg+, k 38, t 21) and in Flower (SecAggPlusWorkflow + secaggplus_mod, 38
# neighbours, threshold 21); SECAGG=only runs that pair alone. Flower's SecAgg+ takes 62–77 s
# a round here and its first round also waits for all 943 SuperNodes (1–6 min):
#   SECAGG_ROUNDS (FedSim, default 20), FLOWER_SECAGG_ROUNDS (default 3; the first is warm-up)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/bench-peers/venv.sh
py=$(pwd)/.build/peersenv/bin/python
out=runs/bench-peers
rm -rf "$out"
mkdir -p "$out"
data=$(pwd)/data/ml-100k
[ -f "$data/ml-100k.inter" ] || [ -f "$data/u.data" ] || { echo "bench-peers: data/ml-100k is missing (make data)" >&2; exit 2; }

# fedsim_rate SYSTEM OUTDIR ROUNDS PROTOCOL: one FedSim run of the workload, one JSON line.
# The workload as issue 24 measured it: movielens-100k.yaml has a validation split, early
# stopping, item-row shrinkage and a decaying step since its issue-18 re-tuning; set back here.
fedsim_rate() {
  local dir
  dir=$(.build/release/fedsim run scenarios/movielens-100k.yaml --quiet --out "$2" \
    --set "secure_aggregation.protocol=$4" --set training.local.epochs=1 --set training.local.batch_size=1 \
    --set training.local.l2=0.0001 --set evaluation.every=0 --set "training.rounds=$3" \
    --set data.split.validation=false --set training.early_stopping.enabled=false --set training.item_shrinkage=0 \
    --set training.local.learning_rate_schedule=constant --set evaluation.bias_baseline.enabled=false | tail -1)
  python3 - "$1" "$dir" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[2] + "/metrics.jsonl") if l.strip()]
rows = [r for r in rows if r.get("finished")][1:]
rate = statistics.median(r["finished"] for r in rows) / statistics.median(r["round_seconds"] for r in rows)
print(json.dumps({"system": sys.argv[1], "rounds": len(rows), "updates_per_second": rate}))
PY
}

secagg=${SECAGG:-0}
if [ "$secagg" != only ]; then
  echo "bench-peers: FedSim (release build, 2 client processes)" >&2
  fedsim_rate fedsim "$out/fedsim" "${ROUNDS:-60}" none >> "$out/results.jsonl"

  echo "bench-peers: pfl-research (one process)" >&2
  (cd scripts/bench-peers && "$py" pfl_mf.py "$data" "${PEER_ROUNDS:-20}") >> "$out/results.jsonl"

  echo "bench-peers: Flower simulation (Ray)" >&2
  (cd scripts/bench-peers && PEER_RESULT="$(pwd)/../../$out/results.jsonl" RAY_DEDUP_LOGS=0 \
    "$py" flower_mf.py "$data" "${FLOWER_ROUNDS:-6}" > "$(pwd)/../../$out/flower.log" 2>&1) ||
    { echo "bench-peers: Flower failed; see $out/flower.log" >&2; exit 1; }
fi

if [ "$secagg" != 0 ]; then
  echo "bench-peers: FedSim with SecAgg+ (scenarios/movielens-100k.yaml: secagg+, k 38, t 21)" >&2
  fedsim_rate fedsim-secagg "$out/fedsim-secagg" "${SECAGG_ROUNDS:-20}" secagg+ >> "$out/results.jsonl"
  echo "bench-peers: Flower simulation (Ray) with SecAggPlusWorkflow; ~70 s a round, the first also waits for the 943 SuperNodes (1–6 min)" >&2
  (cd scripts/bench-peers && PEER_RESULT="$(pwd)/../../$out/results.jsonl" RAY_DEDUP_LOGS=0 \
    "$py" flower_secagg_mf.py "$data" "${FLOWER_SECAGG_ROUNDS:-3}" > "$(pwd)/../../$out/flower-secagg.log" 2>&1) ||
    { echo "bench-peers: Flower SecAgg+ failed; see $out/flower-secagg.log" >&2; exit 1; }
fi

python3 - "$out/results.jsonl" <<'PY'
import json, sys
r = {x["system"]: x for x in map(json.loads, open(sys.argv[1]))}
print("| system | device-updates/s (median round) | FedSim ÷ system |")
print("|---|---|---|")
if "fedsim" in r:
    f = r["fedsim"]["updates_per_second"]
    print(f"| FedSim | {f:,.0f} | 1 |")
    for name, label in [("pfl", "pfl-research 0.6.0, one process"), ("flower", "Flower 1.42.0 simulation (Ray)")]:
        x = r[name]["updates_per_second"]
        print(f"| {label} | {x:,.1f} | {f / x:,.1f}× |")
if "fedsim-secagg" in r:
    f = r["fedsim-secagg"]["updates_per_second"]
    x = r["flower-secagg"]["updates_per_second"]
    print(f"| FedSim, SecAgg+ (k 38, t 21) | {f:,.0f} | 1 |")
    print(f"| Flower 1.42.0 simulation (Ray), SecAggPlusWorkflow (38 neighbours, t 21) | {x:,.2f} | {f / x:,.0f}× |")
if "pfl" in r:
    print(f"\npfl's own local training alone (NumPy, no framework): {r['pfl']['local_only_per_second']:,.0f} updates/s")
PY
