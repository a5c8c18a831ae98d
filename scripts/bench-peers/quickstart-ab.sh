#!/usr/bin/env bash
# Issue 24's quickstart target in one run: `fedsim run scenarios/quickstart.yaml` (SecAgg+ as
# shipped, so with the evaluation rounds' secure exposure sums) against the same scenario with
# plain aggregation, for two builds (A = baseline, B = candidate), alternated N times so that
# load from other work on a shared machine falls on all of them. Prints each run's wall time
# and CPU time (user + system of the launcher, coordinator and client processes), the medians,
# and the ratios SecAgg+ ÷ plain (the target is ≤ 3 in wall time) and B ÷ A.
#   scripts/bench-peers/quickstart-ab.sh BASELINE_BIN_DIR CANDIDATE_BIN_DIR [N] [--set ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
a=$1 b=$2 n=${3:-2}
shift $(($# < 3 ? $# : 3))
out=runs/bench-quickstart
rm -rf "$out"
mkdir -p "$out"
: > "$out/times.txt"
for i in $(seq "$n"); do
  for case in A-secagg B-secagg B-plain A-plain; do
    bin=$a
    [ "${case%%-*}" = B ] && bin=$b
    sets=("$@")
    [ "${case#*-}" = plain ] && sets+=(--set secure_aggregation.protocol=none)
    /usr/bin/time -f "$case %e %U %S" -a -o "$out/times.txt" \
      "$bin/fedsim" run scenarios/quickstart.yaml --quiet --out "$out/$case" "${sets[@]}" > /dev/null
    tail -1 "$out/times.txt"
  done
done
python3 - "$out/times.txt" <<'PY'
import statistics, sys
wall, cpu = {}, {}
for line in open(sys.argv[1]):
    case, e, u, s = line.split()
    wall.setdefault(case, []).append(float(e))
    cpu.setdefault(case, []).append(float(u) + float(s))
w = {c: statistics.median(v) for c, v in wall.items()}
c = {k: statistics.median(v) for k, v in cpu.items()}
for k in sorted(w):
    print(f"{k}: median {w[k]:.2f} s wall, {c[k]:.2f} s CPU over {len(wall[k])} runs")
for side in "AB":
    print(f"{side}: SecAgg+ ÷ plain {w[side + '-secagg'] / w[side + '-plain']:.1f}× wall, "
          f"{c[side + '-secagg'] / c[side + '-plain']:.1f}× CPU")
print(f"B ÷ A with SecAgg+: {w['B-secagg'] / w['A-secagg']:.2f} wall, {c['B-secagg'] / c['A-secagg']:.2f} CPU")
PY
