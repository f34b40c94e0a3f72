#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine: Debian packages (when run as root and
# missing), a virtual environment inside the repo, and the project in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

need_apt=()
if [ "${MAESTRO_SKIP_APT:-0}" != "1" ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing Debian packages: ${need_apt[*]}"
  # Wait for the dpkg lock rather than fail when another apt run (a colleague, unattended-upgrades)
  # holds it.
  (apt-get update -qq -o DPkg::Lock::Timeout=300 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need_apt[@]}" >/dev/null) \
    || echo "warning: could not install ${need_apt[*]}; browser tests will be skipped" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtual environment in $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing the project and its dependencies (a few minutes on a fresh machine)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[dev]'
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
