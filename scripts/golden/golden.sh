#!/usr/bin/env bash
# Behaviour-preserving refactors prove it: a fixed set of short runs whose outputs must stay
# byte-identical (metrics.jsonl and summary.json without wall-clock fields, model.bin).
#
#   scripts/golden/golden.sh check    # run every case, compare with scripts/golden/expected.txt (make golden)
#   scripts/golden/golden.sh record   # run every case, rewrite expected.txt (only before a refactor, on the old code)
#
# Needs a release build (.build/release/fedsim) and MovieLens-100K in data/ml-100k (make data).
# Each case is a scenario plus --set overrides that keep it short; one seed fixes everything,
# and the central-DP case uses privacy.noise=reproducible so its noise is seeded. The SecAgg+
# cases get a 600 s round deadline: the deadline is wall-clock, and on a loaded machine the
# evaluation's secure exposure sum can pass the scenario's 30 s and drop devices from it
# (the model is unaffected, its exposure metrics are not). No output depends on the value.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-check}
bin=${FEDSIM_BIN:-.build/release/fedsim}
expected=scripts/golden/expected.txt
out=${GOLDEN_OUT:-runs/golden}
rm -rf "$out"
mkdir -p "$out"

# quickstart.yaml and movielens-100k.yaml were re-tuned (issue 18: a ranking objective for
# the quickstart; validation, early stopping, shrinkage and a decaying step for MovieLens).
# The quickstart case follows the shipped scenario (re-recorded then); the cases that exist to
# pin a mechanism (FedBuff, an aggregation rule, compression, central DP, SecAgg+ on MovieLens)
# set the earlier settings back, so their expected outputs did not change.
qs_v1="data.split.validation=false evaluation.local_only_epochs=20 model.init_std=0.02 training.local.learning_rate=0.05 training.local.l2=0.02 training.local.loss=mse training.local.negatives=1 training.server.learning_rate=1.0 training.early_stopping.enabled=false evaluation.bias_baseline.enabled=false"
ml_v1="data.split.validation=false training.item_shrinkage=0 training.local.l2=0.01 training.local.learning_rate_schedule=constant training.early_stopping.enabled=false evaluation.bias_baseline.enabled=false"
cases=(
  "quickstart|scenarios/quickstart.yaml|training.rounds=12 evaluation.every=6 runtime.round_deadline_seconds=600"
  "movielens-plain|scenarios/movielens-100k.yaml|$ml_v1 secure_aggregation.protocol=none training.rounds=20 evaluation.every=10"
  "movielens-secagg|scenarios/movielens-100k.yaml|$ml_v1 training.rounds=4 evaluation.every=4 runtime.round_deadline_seconds=600"
  "movielens-central-dp|scenarios/movielens-100k.yaml|$ml_v1 secure_aggregation.protocol=none training.rounds=10 evaluation.every=5 training.sampling=poisson privacy.mechanism=central privacy.noise=reproducible privacy.noise_multiplier=1.0 privacy.clip=0.5 training.weighting=uniform"
  "twotower-fomaml-coldstart|scenarios/movielens-coldstart-meta.yaml|training.rounds=8 evaluation.every=4"
  "deepfm|scenarios/movielens-deepfm.yaml|training.rounds=8 evaluation.every=4"
  "lsttm|scenarios/lsttm-synthetic.yaml|training.rounds=12 evaluation.every=6"
  "fedbuff|scenarios/quickstart.yaml|$qs_v1 secure_aggregation.protocol=none training.async.enabled=true training.rounds=12 evaluation.every=6"
  "median|scenarios/movielens-100k.yaml|$ml_v1 secure_aggregation.protocol=none training.rounds=6 evaluation.every=3 training.aggregation=median"
  "norm-bounded|scenarios/quickstart.yaml|$qs_v1 secure_aggregation.protocol=none training.rounds=6 evaluation.every=3 training.aggregation.rule=norm_bounded training.aggregation.bound=0.5"
  "compressed|scenarios/movielens-100k.yaml|$ml_v1 secure_aggregation.protocol=none training.rounds=8 evaluation.every=4 compression.stages=[sparse_rows,quantize] compression.bits=8"
)

# Wall-clock and host fields are dropped; everything else must match to the byte.
normalize() {
  python3 - "$1" <<'PY'
import json, sys
# Wall-clock figures: "seconds" and "*_seconds" (but the simulated clock's "sim_*" stays), rates
# per wall second, and memory.
def wall(k):
    return (k == "seconds" or (k.endswith("seconds") and not k.startswith("sim"))
            or k.endswith("per_second") or k.startswith("peak_rss"))
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not wall(k)}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
path = sys.argv[1]
with open(path) as f:
    text = f.read()
if path.endswith(".jsonl"):
    lines = [json.dumps(strip(json.loads(l)), sort_keys=True) for l in text.splitlines() if l.strip()]
    print("\n".join(lines))
else:
    print(json.dumps(strip(json.loads(text)), sort_keys=True))
PY
}

digest() { sha256sum | cut -c1-16; }

results=()
for c in "${cases[@]}"; do
  IFS='|' read -r name scenario sets <<<"$c"
  args=()
  for s in $sets; do args+=(--set "$s"); done
  dir=$("$bin" run "$scenario" --quiet --out "$out/$name" "${args[@]}" | tail -1)
  [ -d "$dir" ] || { echo "golden: $name: no run directory ($dir)" >&2; exit 1; }
  m=$(normalize "$dir/metrics.jsonl" | digest)
  s=$(normalize "$dir/summary.json" | digest)
  b=$(digest < "$dir/model.bin")
  results+=("$name metrics=$m summary=$s model=$b")
  echo "golden: $name metrics=$m summary=$s model=$b ($dir)"
done

if [ "$mode" = record ]; then
  printf '%s\n' "${results[@]}" > "$expected"
  echo "golden: recorded ${#results[@]} cases in $expected"
  exit 0
fi
fail=0
for r in "${results[@]}"; do
  name=${r%% *}
  want=$(grep "^$name " "$expected" || true)
  if [ "$want" != "$r" ]; then
    echo "golden: MISMATCH $name"; echo "  expected: ${want:-<none>}"; echo "  got:      $r"; fail=1
  fi
done
[ $fail -eq 0 ] && echo "golden: all ${#results[@]} cases byte-identical" || { echo "golden: outputs changed" >&2; exit 1; }
