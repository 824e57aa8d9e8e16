#!/usr/bin/env bash
# Install what heatwatch needs on a fresh Debian machine (run as root): Debian's mosquitto and
# influxdb (1.x), Python's venv, and a virtualenv in .venv with heatwatch and its dev tools.
# Safe to run again: it only installs what is missing.
# With --test it also installs what only the test suite needs (Debian's docker-compose, to check
# docker-compose.yml with the real `docker-compose config`; no Docker engine is needed for that,
# Debian's prometheus-alertmanager, which the Alertmanager notifier's tests push to, and
# Debian's chromium and chromium-driver, in which the operator page is tested).
set -euo pipefail
cd "$(dirname "$0")/.."
for_tests=0
[ "${1:-}" = "--test" ] && for_tests=1

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ $for_tests = 1 ]; then
  command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
  # The Alertmanager notifier is tested against the real server (POST /api/v2/alerts).
  command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
  # The operator page (api/static) is tested in Debian's headless Chromium through Selenium;
  # Selenium is pointed at these two binaries, so nothing is downloaded at test time.
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"setup: heatwatch needs Python >= 3.11, this is {sys.version.split()[0]}")
PY

stamp=.venv/.heatwatch-installed
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
# constraints.txt: the exact versions the tests passed with (scripts/constraints.py writes it).
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "setup: installing heatwatch into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
