#!/usr/bin/env bash
# `make cluster-showcase`: scenarios/scale-10m.yaml (10,000,000 devices, ~10,000 a round,
# SecAgg+ and distributed DP) with the coordinator in namespace host fedsim-h0 and two client
# processes in each of fedsim-h1 and fedsim-h2, launched by mpirun. Every second it sums the
# resident memory of every FedSim process (coordinator, clients, launcher; mpirun's daemons
# are not FedSim's and are left out) and prints the peak of that sum, each process's own peak,
# the round times and device-updates/s. The namespace hosts share this machine's cores, so
# times are this machine's; see docs/cluster.md for the projection to real hosts.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-$(pwd)/.build/release}
OUT=${OUT:-$(pwd)/runs/cluster-showcase}
SCENARIO=${SCENARIO:-scenarios/scale-10m.yaml}
here=$(pwd)/scripts/cluster
mkdir -p "$OUT"
sampler=
trap '[ -n "$sampler" ] && kill $sampler 2>/dev/null; "$here/netns.sh" down >/dev/null' EXIT
"$here/netns.sh" up 3
printf 'fedsim-h1 slots=2\nfedsim-h2 slots=2\n' >"$OUT/hostfile"

peak_file=$OUT/peak-rss.txt
: >"$peak_file"
(
  peak=0
  declare -A own cpu
  hz=$(getconf CLK_TCK)
  while true; do
    total=0
    # This run's processes only (its output folder is on every command line), FedSim's own.
    for pid in $(pgrep -f -- "$OUT" || true); do
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      name=$( (tr '\0' ' ' <"/proc/$pid/cmdline") 2>/dev/null | awk '{n=$1; sub(".*/", "", n); print n}' || true)
      case "$name" in fedsim | fedsim-coordinator | fedsim-client) ;; *) continue ;; esac
      total=$((total + ${rss:-0}))
      key="$name[$pid]"
      [ "${hwm:-0}" -gt "${own[$key]:-0}" ] && own[$key]=$hwm
      # utime + stime (fields 14 and 15 of /proc/PID/stat), the CPU this process has used so far
      ticks=$( (awk '{print $14 + $15}' "/proc/$pid/stat") 2>/dev/null || echo 0)
      [ "${ticks:-0}" -gt "${cpu[$key]:-0}" ] && cpu[$key]=$ticks
    done
    [ "$total" -gt "$peak" ] && peak=$total
    {
      echo "peak of the sum of VmRSS over all FedSim processes: $((peak / 1024)) MiB"
      for k in "${!own[@]}"; do echo "  $k VmHWM $((own[$k] / 1024)) MiB, CPU $((${cpu[$k]:-0} / hz)) s"; done | sort
    } >"$peak_file.tmp" && mv "$peak_file.tmp" "$peak_file"
    sleep 1
  done
) &
sampler=$!
start=$(date +%s)
ip netns exec fedsim-h0 "$BIN/fedsim" run "$SCENARIO" --out "$OUT" --quiet \
  --set runtime.listen=tcp://10.77.0.10:0 --set runtime.cluster.launcher=mpirun \
  --set "runtime.cluster.hostfile=$OUT/hostfile" \
  --set "runtime.cluster.launcher_arguments=[--mca, plm_rsh_agent, $here/netns-agent.sh]" "$@" | tail -3
kill $sampler 2>/dev/null || true
sampler=
run=$(ls -td "$OUT"/scale-10m-*/ | head -1)
echo "wall clock including setup: $(($(date +%s) - start)) s"
cat "$peak_file"
python3 - "$run" <<'PY'
import json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
lines = [json.loads(l) for l in open(d + "/metrics.jsonl")]
print(f"status {s['status']}, {s['rounds']} rounds, {s['device_updates']} device updates, "
      f"{s['device_updates_per_second']:.1f} updates/s, epsilon {s.get('privacy', {}).get('epsilon')}")
for l in lines:
    st = l.get("secagg", {}).get("stages", {})
    print(f"round {l['round']}: sampled {l['sampled']}, finished {l['finished']}, "
          f"round seconds {l.get('round_seconds', l.get('seconds'))}, "
          + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in st.items()))
PY
