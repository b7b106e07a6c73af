#!/usr/bin/env bash
# Installs the independent FHIR validator (Python fhir.resources 7.x, R4B models) into a venv
# under the cache when missing, and prints the venv's python. Usage: ensure-fhir-validator.sh [CACHE]
# On a fresh Debian machine run as root (CI), it first apt-installs python3 and python3-venv.
set -euo pipefail
CACHE="${1:-${COLLABZIUM_CACHE:-$HOME/.cache/collabzium}}"
VENV="$CACHE/fhir-venv"
PY="$VENV/bin/python"
if [[ -x "$PY" ]] && "$PY" -c 'import fhir.resources.R4B.bundle' >/dev/null 2>&1; then
    echo "$PY"
    exit 0
fi
# apt-get install, refreshing the package lists first when they are empty or stale (fresh images).
apt_install() {
    command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]] || return 1
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$@" >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "$@" >&2; }
}
command -v python3 >/dev/null || apt_install python3 python3-venv ||
    { echo "python3 not found (needed for the FHIR validator)" >&2; exit 1; }
rm -rf "$VENV"
mkdir -p "$CACHE"
if ! python3 -m venv "$VENV" >&2; then
    # Debian's python3 needs python3-venv for ensurepip.
    rm -rf "$VENV"
    apt_install python3-venv || { echo "python3 -m venv failed and python3-venv cannot be installed" >&2; exit 1; }
    python3 -m venv "$VENV" >&2
fi
"$PY" -m pip install -q --disable-pip-version-check --cache-dir "$CACHE/pip" 'fhir.resources>=7,<8' >&2
"$PY" -c 'import fhir.resources.R4B.bundle' >&2
echo "$PY"
