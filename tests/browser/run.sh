#!/usr/bin/env bash
# The registry's web page in a real browser: headless Debian Chromium (through chromedriver and
# selenium, installed by tests/setup.sh) against the debug `tfreg serve`, over HTTPS, loopback
# only. TFREG_SCREENSHOT=1 also saves tests/browser/registry-page.png (the README's picture).
#
#   bash tests/browser/run.sh        (after `cargo build -p tfreg-cloudfront --bin tfreg`)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tfreg="${CARGO_TARGET_DIR:-$root/target}/debug/tfreg"
[ -x "$tfreg" ] || { echo "no $tfreg: run cargo build -p tfreg-cloudfront --bin tfreg first" >&2; exit 1; }
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$tool" ] || { echo "no $tool: run tests/setup.sh first" >&2; exit 1; }
done
"$root/.venv/bin/python" -c 'import selenium' 2>/dev/null \
  || { echo "no selenium in .venv: run tests/setup.sh first" >&2; exit 1; }
# Selenium must use the chromedriver given to it, never look for (or download) another, and
# send no usage statistics.
export SE_AVOID_STATS=true SE_OFFLINE=true
cd "$root"
exec "$root/.venv/bin/python" -m pytest tests/browser -q -p no:cacheprovider "$@"
