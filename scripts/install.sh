#!/usr/bin/env bash
# Idempotent installation steps, each skipped when its inputs have not changed since the last run.
#   install.sh python   .venv with the project and its pinned dependencies
#   install.sh ui       the UI's node modules and its production build (services/ui/dist)
#   install.sh browser  Debian chromium for the browser tests (apt-get; needs root or sudo)
#   install.sh prometheus  Debian prometheus + promtool for the dashboard test (apt-get; needs root or sudo)
#   install.sh ui-test  the UI's component tests (vitest)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STAMPS=.venv/.stamps

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

python_step() {
  local want
  want=$(hash_of pyproject.toml)
  if [[ -x .venv/bin/python && -f $STAMPS/python && "$(cat $STAMPS/python)" == "$want" ]]; then
    return 0
  fi
  echo "==> Python environment (.venv)"
  if [[ ! -x .venv/bin/python ]]; then
    python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  mkdir -p $STAMPS && echo "$want" > $STAMPS/python
}

ui_step() {
  [[ -f services/ui/package.json ]] || return 0
  command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ to build the UI" >&2; exit 1; }
  mkdir -p $STAMPS
  local want
  want=$(hash_of services/ui/package.json services/ui/package-lock.json)
  if [[ ! -d services/ui/node_modules || ! -f $STAMPS/ui-deps || "$(cat $STAMPS/ui-deps)" != "$want" ]]; then
    echo "==> UI dependencies (npm ci)"
    (cd services/ui && if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi)
    echo "$want" > $STAMPS/ui-deps
  fi
  local src
  src=$(cd services/ui && find src index.html vite.config.* tsconfig*.json package.json -type f 2>/dev/null | sort | xargs cat 2>/dev/null | sha256sum | cut -c1-16)
  if [[ ! -f services/ui/dist/index.html || ! -f $STAMPS/ui-build || "$(cat $STAMPS/ui-build)" != "$src" ]]; then
    echo "==> UI build (vite)"
    (cd services/ui && npm run build)
    echo "$src" > $STAMPS/ui-build
  fi
}

browser_step() {
  if [[ -x /usr/bin/chromium ]]; then return 0; fi
  echo "==> Debian chromium (for the browser tests)"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

prometheus_step() {
  # The stamp records the installed package's version; the step is skipped while it and both binaries exist.
  if [[ -x /usr/bin/prometheus && -x /usr/bin/promtool && -s $STAMPS/prometheus ]]; then return 0; fi
  if [[ ! -x /usr/bin/prometheus || ! -x /usr/bin/promtool ]]; then
    echo "==> Debian prometheus (for the dashboard test, tests/infra/test_prometheus.py)"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  mkdir -p $STAMPS
  dpkg-query -W -f='${Version}\n' prometheus > $STAMPS/prometheus 2>/dev/null || /usr/bin/prometheus --version 2>&1 | head -1 > $STAMPS/prometheus
}

ui_test_step() {
  [[ -f services/ui/package.json ]] || return 0
  (cd services/ui && npm test --silent)
}

case "${1:-all}" in
  python) python_step ;;
  ui) ui_step ;;
  browser) browser_step ;;
  prometheus) prometheus_step ;;
  ui-test) ui_test_step ;;
  all) python_step; ui_step ;;
  *) echo "usage: $0 python|ui|browser|prometheus|ui-test|all" >&2; exit 2 ;;
esac
