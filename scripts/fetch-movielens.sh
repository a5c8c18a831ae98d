#!/usr/bin/env bash
# Fetches MovieLens-100K from the RecBole wheel on PyPI into data/ml-100k/ (ignored by git:
# the MovieLens license forbids redistribution, so it is never committed).
set -euo pipefail
dest=${1:-data/ml-100k}
if [ -f "$dest/ml-100k.inter" ] || [ -f "$dest/u.data" ]; then
  echo "data: MovieLens-100K already in $dest"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check recbole==1.2.1 -d "$tmp"
wheel=$(ls "$tmp"/recbole-1.2.1-*.whl)
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "recbole/dataset_example/ml-100k/"
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    wanted = ("ml-100k.inter", "ml-100k.user", "ml-100k.item")
    names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(wanted)]
    for n in names:
        with z.open(n) as src, open(os.path.join(dest, os.path.basename(n)), "wb") as out:
            out.write(src.read())
print(f"data: extracted {len(names)} files into {dest}")
PY
