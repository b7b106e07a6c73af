#!/usr/bin/env bash
# Collabzium: a throwaway PostgreSQL cluster for the relay tests (ADR 0006 §10).
#
#   scripts/ensure-postgres.sh install     install PostgreSQL (Debian) if initdb is missing
#   scripts/ensure-postgres.sh start DIR   initdb a cluster in DIR, start it on 127.0.0.1 and a
#                                          free port, print its URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   scripts/ensure-postgres.sh stop DIR    stop the cluster (fast) and remove DIR
#   scripts/ensure-postgres.sh restart DIR crash-restart the cluster (immediate), for fault tests
#
# `start` installs first when needed. The cluster trusts connections from 127.0.0.1 only,
# keeps fsync on, and runs as the owner of DIR (the `postgres` user when started as root,
# since initdb refuses to run as root). Needs no stdin.
set -euo pipefail

find_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

install_pg() {
    find_bindir >/dev/null && return 0
    command -v apt-get >/dev/null || { echo "ensure-postgres: no initdb and no apt-get; install PostgreSQL" >&2; exit 1; }
    [[ "$(id -u)" -eq 0 ]] || { echo "ensure-postgres: installing PostgreSQL needs root" >&2; exit 1; }
    echo "ensure-postgres: installing postgresql (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 </dev/null
    apt-get install -y -qq --no-install-recommends postgresql >&2 </dev/null
    find_bindir >/dev/null || { echo "ensure-postgres: initdb still missing after install" >&2; exit 1; }
}

# Run a command as the cluster's user (root cannot own a cluster).
as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local dir="$1" bin port
    install_pg
    bin="$(find_bindir)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [[ "$(id -u)" -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
        chown postgres: "$dir"
        # The postgres user must be able to reach DIR.
        local p="$dir"
        while [[ "$p" != "/" ]]; do p="$(dirname "$p")"; chmod o+x "$p" 2>/dev/null || true; done
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-instructions -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    # Loopback only, trust only there; fsync stays on (the relay's durability is under test).
    cat >"$dir/data/pg_hba.conf" <<HBA
local all all trust
host  all all 127.0.0.1/32 trust
HBA
    for _ in 1 2 3 4 5; do
        port="$(free_port)"
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c fsync=on -c unix_socket_directories=$dir -c max_connections=200" \
            start >/dev/null 2>&1; then
            echo "$port" >"$dir/port"
            echo "postgres://postgres@127.0.0.1:$port/postgres"
            return 0
        fi
    done
    tail -n 20 "$dir/server.log" >&2 || true
    echo "ensure-postgres: could not start PostgreSQL" >&2
    exit 1
}

stop() {
    local dir="$1" bin
    [[ -d "$dir" ]] || return 0
    if [[ -f "$dir/data/postmaster.pid" ]] && bin="$(find_bindir)"; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

restart() {
    local dir="$1" bin
    bin="$(find_bindir)"
    # -m immediate is a crash: no shutdown checkpoint, recovery from WAL.
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 60 restart >/dev/null
}

case "${1:-}" in
    install) install_pg ;;
    start) [[ $# -eq 2 ]] || { echo "usage: $0 start DIR" >&2; exit 2; }; start "$2" ;;
    stop) [[ $# -eq 2 ]] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
    restart) [[ $# -eq 2 ]] || { echo "usage: $0 restart DIR" >&2; exit 2; }; restart "$2" ;;
    *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
esac
