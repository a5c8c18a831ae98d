#!/usr/bin/env bash
# Creates .build/tbenv with the real `tensorboard` package from PyPI (pinned), which the test
# suite uses to read FedSim's event files back (TensorBoardTests). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.build/tbenv
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import tensorboard' 2>/dev/null; then
  exit 0
fi
command -v python3 >/dev/null 2>&1 || { echo "tbenv: python3 is needed (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
mkdir -p .build
python3 -m venv "$VENV" || { echo "tbenv: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
"$VENV/bin/pip" install --quiet --disable-pip-version-check tensorboard==2.20.0
echo "tbenv: tensorboard $("$VENV/bin/python" -c 'import tensorboard; print(tensorboard.__version__)') in $VENV"
