#!/usr/bin/env bash
# The project's test command (README "Set-up"; .ci/run runs exactly this): installs what the tests need, then
# runs pytest. Python packages come from requirements-dev.txt; the browser test drives Debian's chromium
# (never `playwright install`, which downloads a browser).
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q -r requirements-dev.txt
if ! command -v chromium >/dev/null; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get install -y -qq chromium >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; }
fi
python -m pytest "$@"
