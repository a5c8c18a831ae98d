#!/usr/bin/env bash
# SwiftPM's clang module caches record absolute paths: a .build moved or copied with the
# project (another folder, a container mount) fails with "module cache path ... but the path is
# currently ...". Remember where .build was built; when the project has moved, drop the module
# caches (SwiftPM rebuilds them) instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .build ] || exit 0
here=$(pwd -P)
stamp=.build/.fedsim-root
if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$here" ]; then
  echo "build-dir: the project moved from $(cat "$stamp") to $here; clearing SwiftPM's module caches"
  find .build -maxdepth 4 -type d -name ModuleCache -prune -exec rm -rf {} +
fi
echo "$here" > "$stamp"
