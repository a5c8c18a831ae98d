#!/usr/bin/env bash
# mpirun's remote agent for network-namespace hosts (`--mca plm_rsh_agent`): mpirun calls it as
# it would call ssh, `AGENT HOST COMMAND…`; the host name is the namespace's name.
# Open MPI passes the remote command as one string for a shell, as ssh would.
set -euo pipefail
host=$1
shift
exec ip netns exec "$host" /bin/sh -c "$*"
