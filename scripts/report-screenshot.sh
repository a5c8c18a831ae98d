#!/bin/sh
# Renders a run's report.html in headless Chromium (Debian package `chromium`), saves a
# screenshot, and checks that the rendered page has its charts.
#   scripts/report-screenshot.sh RUN_DIR OUT.png
set -eu
run="$1"; out="$2"
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (Debian) for the headless check" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; fi
fi
page="file://$(cd "$run" && pwd)/report.html"
flags="--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run"
# The DOM after rendering: count the charts that made it onto the page.
charts=$(chromium $flags --dump-dom "$page" 2>/dev/null | grep -o '<svg[^>]*class="chart"' | wc -l)
titles=$(chromium $flags --dump-dom "$page" 2>/dev/null | grep -o 'class="title">[^<]*' | sed 's/class="title">//' | paste -sd ';' -)
if [ "$charts" -lt 6 ]; then
    echo "report check FAILED: $charts charts rendered in $page (expected at least 6)" >&2
    exit 1
fi
chromium $flags --window-size=1240,1700 --screenshot="$out" "$page" >/dev/null 2>&1
echo "report renders in headless Chromium: $charts charts ($titles); screenshot $out"
