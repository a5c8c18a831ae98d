#!/usr/bin/env bash
# Creates .build/peersenv with the peer simulators from PyPI, pinned: Flower with its
# simulation extra (Ray) and pfl-research. Both peer scripts use NumPy models, so neither
# PyTorch nor TensorFlow is installed. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.build/peersenv
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import flwr, ray, pfl' 2>/dev/null; then
  exit 0
fi
command -v python3 >/dev/null 2>&1 || { echo "peersenv: python3 is needed (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
mkdir -p .build
python3 -m venv "$VENV" || { echo "peersenv: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
"$VENV/bin/pip" install --quiet --disable-pip-version-check "flwr[simulation]==1.42.0" "pfl==0.6.0" numpy
"$VENV/bin/python" - <<'PY'
import flwr, ray, pfl
print(f"peersenv: flwr {flwr.__version__}, ray {ray.__version__}, pfl {getattr(pfl, '__version__', '0.6.0')}")
PY
