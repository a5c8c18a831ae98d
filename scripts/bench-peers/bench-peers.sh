#!/usr/bin/env bash
# make bench-peers: the issue-24 workload in FedSim, pfl-research and Flower, one after the
# other in one run on this machine, then device-updates/s (median round) and FedSim's ratio
# to each peer. The workload: federated biased MF on ML-100K, every user a device, 100
# devices a round, dim 16, one epoch of per-rating SGD, lr 0.05, L2 1e-4, plain aggregation
# (per-item weighted mean). The peers' local training is mf_local.py (NumPy); each peer also
# reports nothing but what its framework measured. Needs a release build and data/ml-100k.
#   ROUNDS (FedSim, default 60), PEER_ROUNDS (pfl, default 20), FLOWER_ROUNDS (default 6)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/bench-peers/venv.sh
py=$(pwd)/.build/peersenv/bin/python
out=runs/bench-peers
rm -rf "$out"
mkdir -p "$out"
data=$(pwd)/data/ml-100k
[ -f "$data/ml-100k.inter" ] || [ -f "$data/u.data" ] || { echo "bench-peers: data/ml-100k is missing (make data)" >&2; exit 2; }

echo "bench-peers: FedSim (release build, 2 client processes)" >&2
dir=$(.build/release/fedsim run scenarios/movielens-100k.yaml --quiet --out "$out/fedsim" \
  --set secure_aggregation.protocol=none --set training.local.epochs=1 --set training.local.batch_size=1 \
  --set training.local.l2=0.0001 --set evaluation.every=0 --set "training.rounds=${ROUNDS:-60}" | tail -1)
python3 - "$dir" > "$out/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl") if l.strip()]
rows = [r for r in rows if r.get("finished")][1:]
rate = statistics.median(r["finished"] for r in rows) / statistics.median(r["round_seconds"] for r in rows)
print(json.dumps({"system": "fedsim", "rounds": len(rows), "updates_per_second": rate}))
PY

echo "bench-peers: pfl-research (one process)" >&2
(cd scripts/bench-peers && "$py" pfl_mf.py "$data" "${PEER_ROUNDS:-20}") >> "$out/results.jsonl"

echo "bench-peers: Flower simulation (Ray)" >&2
(cd scripts/bench-peers && PEER_RESULT="$(pwd)/../../$out/results.jsonl" RAY_DEDUP_LOGS=0 \
  "$py" flower_mf.py "$data" "${FLOWER_ROUNDS:-6}" > "$(pwd)/../../$out/flower.log" 2>&1) ||
  { echo "bench-peers: Flower failed; see $out/flower.log" >&2; exit 1; }

python3 - "$out/results.jsonl" <<'PY'
import json, sys
r = {x["system"]: x for x in map(json.loads, open(sys.argv[1]))}
f = r["fedsim"]["updates_per_second"]
print("| system | device-updates/s (median round) | FedSim ÷ system |")
print("|---|---|---|")
print(f"| FedSim | {f:,.0f} | 1 |")
for name, label in [("pfl", "pfl-research 0.6.0, one process"), ("flower", "Flower 1.42.0 simulation (Ray)")]:
    x = r[name]["updates_per_second"]
    print(f"| {label} | {x:,.1f} | {f / x:,.1f}× |")
print(f"\npfl's own local training alone (NumPy, no framework): {r['pfl']['local_only_per_second']:,.0f} updates/s")
PY
