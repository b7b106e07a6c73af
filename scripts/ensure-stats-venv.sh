#!/usr/bin/env bash
# Installs the independent statistics reference (pinned numpy + scipy from PyPI) into a venv
# under the cache when missing, and prints the venv's python. Usage: ensure-stats-venv.sh [CACHE]
# Used by core/tests/research_stats.rs (via COLLABZIUM_STATS_PYTHON) to cross-check the
# alliance-outcome analysis against scripts/research_reference.py.
# On a fresh Debian machine run as root (CI), it first apt-installs python3 and python3-venv.
set -euo pipefail
CACHE="${1:-${COLLABZIUM_CACHE:-$HOME/.cache/collabzium}}"
# Changing the pins changes the stamp, which rebuilds the venv.
PINS=(numpy==2.2.6 scipy==1.15.3)
VENV="$CACHE/stats-venv"
PY="$VENV/bin/python"
STAMP="$VENV/.collabzium-pins"
if [[ -x "$PY" && "$(cat "$STAMP" 2>/dev/null)" == "${PINS[*]}" ]] &&
    "$PY" -c 'import numpy, scipy.stats' >/dev/null 2>&1; then
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
    { echo "python3 not found (needed for the statistics reference)" >&2; exit 1; }
rm -rf "$VENV"
mkdir -p "$CACHE"
if ! python3 -m venv "$VENV" >&2; then
    # Debian's python3 needs python3-venv for ensurepip.
    rm -rf "$VENV"
    apt_install python3-venv || { echo "python3 -m venv failed and python3-venv cannot be installed" >&2; exit 1; }
    python3 -m venv "$VENV" >&2
fi
# Wheels only: building scipy from source would need a Fortran toolchain.
"$PY" -m pip install -q --disable-pip-version-check --only-binary=:all: --cache-dir "$CACHE/pip" "${PINS[@]}" >&2
"$PY" -c 'import numpy, scipy.stats' >&2
echo "${PINS[*]}" >"$STAMP"
echo "$PY"
