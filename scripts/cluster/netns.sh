#!/usr/bin/env bash
# Network-namespace "hosts" on this machine, for `make cluster-test`:
#   scripts/cluster/netns.sh up N     fedsim-h0 … fedsim-h<N-1>, each with its own network stack,
#                                     joined by the bridge fedsim-br0; fedsim-hI has 10.77.0.(10+I)
#   scripts/cluster/netns.sh down     removes them
# Each namespace sees only its own loopback and its veth: traffic between "hosts" crosses the
# bridge as it would cross a switch. Needs root (ip netns). Files are shared, as on a cluster
# with a shared home directory.
set -euo pipefail
cmd=${1:-}
case "$cmd" in
up)
  n=${2:-3}
  ip link show fedsim-br0 >/dev/null 2>&1 || {
    ip link add fedsim-br0 type bridge
    ip addr add 10.77.0.1/24 dev fedsim-br0
    ip link set fedsim-br0 up
  }
  for i in $(seq 0 $((n - 1))); do
    ns=fedsim-h$i
    ip netns list | grep -qw "$ns" && continue
    ip netns add "$ns"
    ip link add "veth-h$i" type veth peer name eth0 netns "$ns"
    ip link set "veth-h$i" master fedsim-br0 up
    ip -n "$ns" addr add "10.77.0.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
  echo "netns: $(ip netns list | grep -c fedsim-h) hosts up on fedsim-br0 (10.77.0.10…)"
  ;;
down)
  for ns in $(ip netns list | awk '/^fedsim-h/ {print $1}'); do
    ip netns pids "$ns" | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns"
  done
  ip link del fedsim-br0 2>/dev/null || true
  echo "netns: removed"
  ;;
*)
  echo "usage: $0 up [N] | down" >&2
  exit 64
  ;;
esac
