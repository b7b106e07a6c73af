#!/usr/bin/env bash
# Installs the independent FHIR validator (Python fhir.resources 7.x, R4B models) into a venv
# under the cache when missing, and prints the venv's python. Usage: ensure-fhir-validator.sh [CACHE]
set -euo pipefail
CACHE="${1:-${COLLABZIUM_CACHE:-$HOME/.cache/collabzium}}"
VENV="$CACHE/fhir-venv"
PY="$VENV/bin/python"
if [[ -x "$PY" ]] && "$PY" -c 'import fhir.resources.R4B.bundle' >/dev/null 2>&1; then
    echo "$PY"
    exit 0
fi
command -v python3 >/dev/null || { echo "python3 not found (needed for the FHIR validator)" >&2; exit 1; }
rm -rf "$VENV"
mkdir -p "$CACHE"
python3 -m venv "$VENV" >&2 || {
    # Debian's python3 needs python3-venv for ensurepip.
    if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2
        python3 -m venv "$VENV" >&2
    else
        exit 1
    fi
}
"$PY" -m pip install -q --disable-pip-version-check --cache-dir "$CACHE/pip" 'fhir.resources>=7,<8' >&2
"$PY" -c 'import fhir.resources.R4B.bundle' >&2
echo "$PY"
