#!/usr/bin/env bash
# Collabzium: the single test command (CI runs exactly this). See tests/README.md.
#
#   scripts/test-all.sh                      all suites: rust, lint, package, msrv, kotlin, swift, api (schemathesis),
#                                            fuzz, size (release library size budget), android (debug APK
#                                            built and checked, app-logic journeys on the JVM), browser (the
#                                            workstation in headless chromium: tests/browser), ios (ios/Package.swift:
#                                            state-holder journeys in the trixie chroot, swiftc -parse over ios/App)
#   scripts/test-all.sh --only kotlin        one suite (repeat --only, or use a comma list)
#   scripts/test-all.sh --setup-only         install/verify prerequisites and exit
#
# Environment:
#   COLLABZIUM_CACHE          cache dir (default ~/.cache/collabzium): kotlin compiler, swift chroot,
#                             Android tools and the debug signing key
#   COLLABZIUM_DEBIAN_MIRROR  Debian mirror for the trixie chroot (default: the host's apt mirror)
#   COLLABZIUM_TEST_FILTER    substring filter for Kotlin and Swift test names
#   COLLABZIUM_JNA_JAR        jna.jar to use (default /usr/share/java/jna.jar, Debian libjna-java)
#
# Installs what it needs if missing (Debian: libjna-java, debootstrap, chromium, nodejs/npm;
# npm: kotlin-compiler, playwright-core, axe-core; a Debian trixie chroot with swiftlang in the cache). Needs root on Linux for apt and chroot.
if [ "${BASH_VERSINFO[0]}" -lt 4 ]; then # macOS ships bash 3.2
    for b in /opt/homebrew/bin/bash /usr/local/bin/bash; do [ -x "$b" ] && exec "$b" "$0" "$@"; done
    echo "scripts/test-all.sh needs bash >= 4 (macOS: brew install bash)" >&2
    exit 2
fi
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

CACHE="${COLLABZIUM_CACHE:-${HOME:-/root}/.cache/collabzium}"
KOTLIN_VERSION="2.4.20"
KOTLIN_PREFIX="$CACHE/kotlin"
KOTLIN_HOME="$KOTLIN_PREFIX/node_modules/kotlin-compiler"
JNA_JAR="${COLLABZIUM_JNA_JAR:-/usr/share/java/jna.jar}"
SWIFT_ROOT="$CACHE/swift-trixie"
SWIFT_PACKAGES=(swiftlang libc6-dev libstdc++-14-dev)
# Changing this string invalidates cached chroots.
SWIFT_RECIPE="collabzium-swift-chroot v1: debootstrap --variant=minbase trixie; ${SWIFT_PACKAGES[*]}"
SWIFT_STAMP=".collabzium-chroot-complete"
CARGO_TARGET="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BUILD_DIR="$REPO_ROOT/build"
BINDINGS_DIR="$BUILD_DIR/bindings"
LOG_DIR="$BUILD_DIR/test-logs"
OS="$(uname -s)"
ALL_SUITES=(rust lint package msrv kotlin swift api fuzz size android browser ios)
# The browser suite's npm packages, pinned; installed into the cache, never into the checkout.
PLAYWRIGHT_VERSION="1.65.2"
AXE_VERSION="4.14.1"
BROWSER_PREFIX="$CACHE/browser"
CHROMIUM_BIN="${COLLABZIUM_CHROMIUM:-/usr/bin/chromium}"
# Crates that must package (`cargo package`, with its verification build): one word per crate.
PACKAGE_CRATES=(collabzium-protocol collabzium-core)
# The workspace's declared minimum Rust (rust-version in Cargo.toml), checked with that toolchain.
MSRV="$(sed -nE 's/^rust-version *= *"([0-9.]+)".*/\1/p' "$REPO_ROOT/Cargo.toml" | head -n 1)"
MSRV_TARGET="${COLLABZIUM_MSRV_TARGET_DIR:-$CARGO_TARGET/msrv}"

export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" # chroot, debootstrap
export CARGO_TERM_PROGRESS_WHEN=never

# ---------------------------------------------------------------- arguments
SELECTED=()
SETUP_ONLY=0
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --only)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            IFS=',' read -r -a _parts <<<"$2"
            SELECTED+=("${_parts[@]}")
            shift 2 ;;
        --only=*)
            IFS=',' read -r -a _parts <<<"${1#--only=}"
            SELECTED+=("${_parts[@]}")
            shift ;;
        --setup-only) SETUP_ONLY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ ${#SELECTED[@]} -eq 0 ]]; then SELECTED=("${ALL_SUITES[@]}"); fi
for s in "${SELECTED[@]}"; do
    case "$s" in rust|lint|package|msrv|kotlin|swift|api|fuzz|size|android|browser|ios) ;; *) echo "unknown suite: $s (rust|lint|package|msrv|kotlin|swift|api|fuzz|size|android|browser|ios)" >&2; exit 2 ;; esac
done
wants() { local s; for s in "${SELECTED[@]}"; do [[ "$s" == "$1" ]] && return 0; done; return 1; }

# ---------------------------------------------------------------- helpers
SCRIPT_START=$SECONDS
log() { printf '\n==> [%4ss] %s\n' "$((SECONDS - SCRIPT_START))" "$*" >&2; }
die() { printf '\nerror: %s\n' "$*" >&2; exit 1; }

CHILD=""          # pid of the background job we are waiting for
PG_DIR=""         # throwaway PostgreSQL cluster of the rust suite (scripts/ensure-postgres.sh)
MOUNTS=()         # mount points we mounted, in order
CHROOTS=()        # chroot dirs we ran processes in
TEMP_PATHS=()     # removed on exit (partial downloads etc.)

# All descendants of a pid, from one pass over /proc (no procps needed).
descendants() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
        { pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " "); parent[pid] = f[2] }
        END {
            want[root] = 1
            do {
                changed = 0
                for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; changed = 1 }
            } while (changed)
            for (p in want) if (p != root) print p
        }'
}

# True if any of the pids is still running (zombies count as gone).
any_alive() {
    local p st
    for p in "$@"; do
        st="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
        st="${st##*) }"
        [[ "${st:0:1}" == Z ]] || return 0
    done
    return 1
}

# Stop the processes (so they cannot fork), ask them to terminate, then force it.
terminate_pids() {
    [[ $# -gt 0 ]] || return 0
    kill -STOP "$@" 2>/dev/null || true
    kill -TERM "$@" 2>/dev/null || true
    kill -CONT "$@" 2>/dev/null || true
    local i
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        any_alive "$@" || return 0
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null || true
    for i in 1 2 3 4 5 6 7 8 9 10; do
        any_alive "$@" || return 0
        sleep 0.1
    done
}

kill_tree() {
    local pids
    # shellcheck disable=SC2207
    pids=("$1" $(descendants "$1"))
    terminate_pids "${pids[@]}"
}

# Processes whose root directory is inside a chroot of ours (only we run things there).
chroot_pids() {
    local root=$1 p r
    for p in /proc/[0-9]*; do
        r="$(readlink "$p/root" 2>/dev/null)" || continue
        if [[ "$r" == "$root" || "$r" == "$root"/* ]]; then echo "${p#/proc/}"; fi
    done
}

kill_chroot_procs() {
    local root=$1
    local -a pids
    for _ in 1 2 3; do
        mapfile -t pids < <(chroot_pids "$root")
        [[ ${#pids[@]} -gt 0 ]] || return 0
        terminate_pids "${pids[@]}"
    done
}

# Mount points at or below a directory, deepest first.
mounts_under() {
    local dir=$1
    awk '{print $2}' /proc/mounts | while read -r m; do
        m="$(printf '%b' "$m")"
        if [[ "$m" == "$dir" || "$m" == "$dir"/* ]]; then echo "$m"; fi
    done | sort -r
}

unmount_under() {
    local dir=$1 m
    while read -r m; do
        [[ -n "$m" ]] || continue
        umount "$m" 2>/dev/null || umount -l "$m" || echo "warning: could not unmount $m" >&2
    done < <(mounts_under "$dir")
}

do_mount() { # do_mount <mountpoint> <mount args...>
    local target=$1; shift
    mount "$@" "$target"
    MOUNTS+=("$target")
}

unmount_ours() {
    local i m
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        m="${MOUNTS[i]}"
        if mountpoint -q "$m" 2>/dev/null; then
            umount "$m" 2>/dev/null || umount -l "$m" || echo "warning: could not unmount $m" >&2
        fi
    done
    MOUNTS=()
}

# Delete a directory that may be (part of) a chroot: unmount first, never cross filesystems.
remove_tree() {
    local dir=$1
    [[ -e "$dir" ]] || return 0
    kill_chroot_procs "$dir"
    unmount_under "$dir"
    rm -rf --one-file-system "$dir"
}

cleanup() {
    local rc=$?
    set +e
    trap '' INT TERM HUP # finish cleaning up even if interrupted again
    trap - EXIT
    if [[ -n "$CHILD" ]]; then kill_tree "$CHILD"; wait "$CHILD" 2>/dev/null || true; fi
    if [[ -n "$PG_DIR" ]]; then "$REPO_ROOT/scripts/ensure-postgres.sh" stop "$PG_DIR" >/dev/null 2>&1; fi
    local r p
    for r in "${CHROOTS[@]}"; do kill_chroot_procs "$r"; done
    unmount_ours
    for p in "${TEMP_PATHS[@]}"; do remove_tree "$p"; done
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'echo "terminated" >&2; exit 143' TERM HUP

# Run a command in the background (so signals interrupt us promptly), output to the
# terminal and appended to a log file. Returns the command's exit status.
run_logged() { # run_logged <logfile> <cmd...>
    local logfile=$1; shift
    ( set +e; "$@" </dev/null 2>&1 | tee -a "$logfile"; exit "${PIPESTATUS[0]}" ) &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

# Same without a log file.
run() {
    "$@" </dev/null &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

# ---------------------------------------------------------------- results
declare -A R_STATUS R_PASSED R_FAILED R_TIME R_NOTE
record() { # record <suite> <PASS|FAIL|ERROR> <passed> <failed> <seconds> [note]
    R_STATUS[$1]=$2; R_PASSED[$1]=$3; R_FAILED[$1]=$4; R_TIME[$1]=$5; R_NOTE[$1]=${6:-}
}

print_summary() {
    local s total_p=0 total_f=0 bad=0 status
    printf '\n%-8s %-8s %7s %7s %8s  %s\n' suite status passed failed time note
    printf '%-8s %-8s %7s %7s %8s  %s\n' ----- ------ ------ ------ ---- ----
    for s in "${ALL_SUITES[@]}"; do
        wants "$s" || continue
        status="${R_STATUS[$s]:-NOT RUN}"
        printf '%-8s %-8s %7s %7s %8s  %s\n' "$s" "$status" "${R_PASSED[$s]:-0}" "${R_FAILED[$s]:-0}" \
            "${R_TIME[$s]:+${R_TIME[$s]}s}" "${R_NOTE[$s]:-}"
        total_p=$((total_p + ${R_PASSED[$s]:-0}))
        total_f=$((total_f + ${R_FAILED[$s]:-0}))
        [[ "$status" == PASS ]] || bad=1
    done
    printf '(logs: %s, wall time %ss)\n' "${LOG_DIR#"$REPO_ROOT"/}" "$((SECONDS - SCRIPT_START))"
    echo "total: $total_p passed, $total_f failed"
    return "$bad"
}

# ---------------------------------------------------------------- prerequisites
APT_UPDATED=0
apt_install() { # apt_install <pkg...>  (only the missing ones)
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [[ ${#missing[@]} -gt 0 ]] || return 0
    [[ "$(id -u)" == 0 ]] || die "need root to apt-get install ${missing[*]}"
    log "apt-get install ${missing[*]}"
    local apt_log="$LOG_DIR/apt.log"
    {
        if [[ $APT_UPDATED == 0 ]]; then run apt-get update -q && APT_UPDATED=1; fi &&
            run apt-get install -y -q --no-install-recommends "${missing[@]}"
    } >>"$apt_log" 2>&1 || { tail -n 30 "$apt_log" >&2; die "apt-get install ${missing[*]} failed (log: $apt_log)"; }
}

# The host's Debian mirror (first non-security "…/debian" URI in apt sources).
debian_mirror() {
    if [[ -n "${COLLABZIUM_DEBIAN_MIRROR:-}" ]]; then echo "$COLLABZIUM_DEBIAN_MIRROR"; return; fi
    local uri
    uri="$(
        {
            cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -nE 's/^[[:space:]]*URIs:[[:space:]]*//p' | tr ' ' '\n'
            cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
                sed -nE 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p'
        } | grep -E '^(https?|ftp)://[^[:space:]]*/debian/?$' | head -n 1 || true
    )"
    echo "${uri:-http://deb.debian.org/debian}"
}

ensure_kotlin() {
    local stamp="$KOTLIN_PREFIX/.collabzium-complete"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$KOTLIN_VERSION" && -f "$KOTLIN_HOME/bin/kotlinc" ]]; then
        return 0
    fi
    command -v npm >/dev/null || die "npm not found (needed to install kotlin-compiler)"
    log "npm install kotlin-compiler@$KOTLIN_VERSION into $KOTLIN_PREFIX"
    rm -rf "$KOTLIN_PREFIX"
    mkdir -p "$KOTLIN_PREFIX"
    run npm install --prefix "$KOTLIN_PREFIX" --no-audit --no-fund --no-update-notifier --loglevel=error \
        "kotlin-compiler@$KOTLIN_VERSION"
    [[ -f "$KOTLIN_HOME/bin/kotlinc" ]] || die "kotlin-compiler installed but $KOTLIN_HOME/bin/kotlinc is missing"
    echo "$KOTLIN_VERSION" >"$KOTLIN_PREFIX/.collabzium-complete"
}

# playwright-core drives the system chromium (no browser download); axe-core is injected
# into each page. Both pinned, in the cache, reinstalled when the pins change.
ensure_browser_deps() {
    local stamp="$BROWSER_PREFIX/.collabzium-complete" want="playwright-core@$PLAYWRIGHT_VERSION axe-core@$AXE_VERSION"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$BROWSER_PREFIX/node_modules/axe-core/axe.min.js" ]]; then
        return 0
    fi
    command -v npm >/dev/null || die "npm not found (needed to install playwright-core)"
    log "npm install $want into $BROWSER_PREFIX"
    rm -rf "$BROWSER_PREFIX"
    mkdir -p "$BROWSER_PREFIX"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 run npm install --prefix "$BROWSER_PREFIX" --no-audit --no-fund \
        --no-update-notifier --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" "axe-core@$AXE_VERSION"
    [[ -f "$BROWSER_PREFIX/node_modules/axe-core/axe.min.js" ]] || die "axe-core installed but axe.min.js is missing"
    echo "$want" >"$stamp"
}

chroot_run() { # chroot_run <root> <cmd...>   clean environment, no stdin
    local root=$1; shift
    env -i HOME=/root TERM=dumb LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        chroot "$root" "$@"
}

mount_chroot_fs() { # mount what the chroot needs: /proc (debootstrap already made the /dev nodes)
    local root=$1
    CHROOTS+=("$root")
    mountpoint -q "$root/proc" || do_mount "$root/proc" -t proc proc
}

unmount_chroot_fs() {
    local root=$1
    kill_chroot_procs "$root"
    unmount_ours
}

ensure_swift_chroot() {
    if [[ -f "$SWIFT_ROOT/$SWIFT_STAMP" && "$(cat "$SWIFT_ROOT/$SWIFT_STAMP")" == "$SWIFT_RECIPE" ]]; then
        return 0
    fi
    [[ "$(id -u)" == 0 ]] || die "need root to build the swift chroot"
    # Anything else is a leftover: a chroot from an older recipe or an interrupted build.
    local d
    for d in "$SWIFT_ROOT" "$CACHE"/swift-trixie.tmp.*; do
        [[ -e "$d" ]] || continue
        log "removing stale $d"
        remove_tree "$d"
    done
    local mirror tmp
    mirror="$(debian_mirror)"
    tmp="$CACHE/swift-trixie.tmp.$$"
    TEMP_PATHS+=("$tmp")
    mkdir -p "$CACHE"
    log "debootstrap --variant=minbase trixie $tmp $mirror"
    run debootstrap --variant=minbase trixie "$tmp" "$mirror" >"$LOG_DIR/debootstrap.log" 2>&1 ||
        { tail -n 30 "$LOG_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $LOG_DIR/debootstrap.log)"; }
    cp /etc/resolv.conf "$tmp/etc/resolv.conf"
    # Never start services from package scripts.
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
    chmod +x "$tmp/usr/sbin/policy-rc.d"
    mount_chroot_fs "$tmp"
    log "installing ${SWIFT_PACKAGES[*]} in the chroot"
    local apt_log="$LOG_DIR/swift-chroot-apt.log"
    {
        run chroot_run "$tmp" apt-get update -q &&
            run chroot_run "$tmp" apt-get install -y -q --no-install-recommends "${SWIFT_PACKAGES[@]}" &&
            run chroot_run "$tmp" apt-get clean
    } >"$apt_log" 2>&1 || { tail -n 30 "$apt_log" >&2; die "apt-get in the chroot failed (log: $apt_log)"; }
    run chroot_run "$tmp" swift --version
    unmount_chroot_fs "$tmp"
    echo "$SWIFT_RECIPE" >"$tmp/$SWIFT_STAMP"
    mv "$tmp" "$SWIFT_ROOT"
    TEMP_PATHS=()
}

# One user of the swift chroot at a time (building it, or running the staged package in it).
swift_lock() {
    exec 8>"$CACHE/swift.lock"
    if ! flock -n 8; then
        log "waiting for another test run that is using $SWIFT_ROOT"
        flock 8
    fi
}
swift_unlock() { exec 8>&-; }

setup_prereqs() {
    mkdir -p "$CACHE" "$LOG_DIR"
    local t0=$SECONDS
    if [[ "$OS" == Linux ]]; then
        local pkgs=()
        if wants kotlin || wants android; then
            pkgs+=(libjna-java)
            # A fresh Debian may have neither: the JDK runs the tests, npm fetches kotlinc.
            command -v java >/dev/null || pkgs+=(openjdk-17-jdk-headless)
            command -v npm >/dev/null || pkgs+=(npm)
        fi
        if wants swift || wants ios; then pkgs+=(debootstrap); fi
        if wants browser; then
            [[ -x "$CHROMIUM_BIN" ]] || pkgs+=(chromium)
            command -v node >/dev/null || pkgs+=(nodejs)
            command -v npm >/dev/null || pkgs+=(npm)
        fi
        if wants android; then pkgs+=(zip); fi # build-apk.sh adds the dex to the APK with zip
        if [[ ${#pkgs[@]} -gt 0 ]]; then apt_install "${pkgs[@]}"; fi
    fi
    if wants browser; then
        ensure_browser_deps
        [[ -x "$CHROMIUM_BIN" ]] || die "chromium not found at $CHROMIUM_BIN (set COLLABZIUM_CHROMIUM)"
    fi
    if wants kotlin || wants android; then
        ensure_kotlin
        command -v java >/dev/null || die "java not found"
        [[ -f "$JNA_JAR" ]] || die "$JNA_JAR missing (Debian package libjna-java)"
    fi
    if wants android; then
        # Debian's android.jar 23, aapt2, dx, ProGuard, zipalign, apksigner, dexdump (cached .debs).
        "$REPO_ROOT/scripts/ensure-android-tools.sh" "$CACHE" >/dev/null 2>>"$LOG_DIR/android-tools.log" ||
            { tail -n 20 "$LOG_DIR/android-tools.log" >&2; die "scripts/ensure-android-tools.sh failed (log: $LOG_DIR/android-tools.log)"; }
    fi
    if wants swift || wants ios; then
        if [[ "$OS" == Linux ]]; then
            swift_lock
            ensure_swift_chroot
            swift_unlock
        else
            command -v swift >/dev/null || die "swift not found"
        fi
    fi
    log "prerequisites ready ($((SECONDS - t0))s)"
}

# ---------------------------------------------------------------- build
LIB_EXT=so
[[ "$OS" == Darwin ]] && LIB_EXT=dylib
FFI_LIB_DIR="$CARGO_TARGET/debug"
FFI_LIB="$FFI_LIB_DIR/libcollabzium_ffi.$LIB_EXT"

build_bindings() {
    log "cargo build -p collabzium-ffi; generating bindings into ${BINDINGS_DIR#"$REPO_ROOT"/}"
    local t0=$SECONDS
    run_logged "$LOG_DIR/build.log" cargo build -p collabzium-ffi || return 1
    rm -rf "$BINDINGS_DIR"
    mkdir -p "$BINDINGS_DIR"
    run_logged "$LOG_DIR/build.log" "$CARGO_TARGET/debug/uniffi-bindgen" generate --library "$FFI_LIB" \
        --language kotlin --language swift --no-format --out-dir "$BINDINGS_DIR" || return 1
    [[ -f "$BINDINGS_DIR/Collabzium.swift" && -f "$BINDINGS_DIR/CollabziumFFI.h" && -f "$BINDINGS_DIR/CollabziumFFI.modulemap" ]] ||
        { echo "bindgen did not produce the expected Swift files" >&2; return 1; }
    [[ -n "$(find "$BINDINGS_DIR/org/collabzium" -name '*.kt' 2>/dev/null)" ]] ||
        { echo "bindgen did not produce Kotlin files" >&2; return 1; }
    log "build ok ($((SECONDS - t0))s)"
}

# The CLI, whose `relay serve` the Kotlin and Swift sync tests start (COLLABZIUM_BIN); same
# profile as the library. Built once per run, by the first suite that needs it.
CLI_BIN="$CARGO_TARGET/debug/collabzium"
CLI_BUILT=0
build_cli() {
    [[ $CLI_BUILT == 0 ]] || return 0
    log "cargo build -p collabzium-cli (the relay for the sync tests)"
    run_logged "$LOG_DIR/build.log" cargo build -p collabzium-cli || return 1
    [[ -x "$CLI_BIN" ]] || { echo "cargo build -p collabzium-cli did not produce $CLI_BIN" >&2; return 1; }
    CLI_BUILT=1
}

# ---------------------------------------------------------------- suites
sha256() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi; }

sum_matches() { # sum_matches <file> <sed -E expr printing a number>  -> sum
    sed -nE "$2" "$1" | awk '{s += $1} END {print s + 0}'
}

suite_rust() {
    local logfile="$LOG_DIR/rust.log" t0=$SECONDS rc=0 passed=0 failed=0 note=""
    : >"$logfile"
    # --- issue 4: independent FHIR validator (Python fhir.resources, R4B) for cli/tests/cli_checkin.rs ---
    local fhir_py
    if fhir_py="$("$REPO_ROOT/scripts/ensure-fhir-validator.sh" "$CACHE" 2>>"$logfile")"; then
        export COLLABZIUM_FHIR_PYTHON="$fhir_py"
    else
        log "could not install fhir.resources; the FHIR export test will fail (see $logfile)"
    fi
    export COLLABZIUM_REQUIRE_FHIR_VALIDATOR=1
    # --- end issue 4 ---
    # --- issue 6: independent numpy/scipy reference for core/tests/research_stats.rs ---
    local stats_py
    if stats_py="$("$REPO_ROOT/scripts/ensure-stats-venv.sh" "$CACHE" 2>>"$logfile")"; then
        export COLLABZIUM_STATS_PYTHON="$stats_py"
    else
        log "could not install numpy/scipy; the research statistics test will fail (see $logfile)"
    fi
    export COLLABZIUM_REQUIRE_STATS_PYTHON=1
    # --- end issue 6 ---
    # --- issue 5: a throwaway PostgreSQL for the relay suite (relay/tests) ---
    PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/collabzium-pg.XXXXXX")"
    local pg_url
    if pg_url="$("$REPO_ROOT/scripts/ensure-postgres.sh" start "$PG_DIR" 2>>"$logfile")"; then
        export COLLABZIUM_TEST_PG_URL="$pg_url" COLLABZIUM_TEST_PG_DIR="$PG_DIR"
    else
        log "could not start PostgreSQL; the relay's PostgreSQL tests will fail (see $logfile)"
    fi
    export COLLABZIUM_REQUIRE_PG=1
    # --- end issue 5 ---
    # The e2e suites (tests/e2e) run the collabzium binary: build it once here rather than
    # from every test process (see tests/README.md, "End-to-end suites").
    if build_cli; then export COLLABZIUM_E2E_BIN="$CLI_BIN"; fi
    if cargo nextest --version >/dev/null 2>&1; then
        log "cargo nextest run --workspace"
        run_logged "$logfile" cargo nextest run --workspace --no-tests=pass --no-fail-fast || rc=$?
        # "Summary [ 0.1s] 12 tests run: 11 passed, 1 failed, 0 skipped"
        passed=$(sum_matches "$logfile" 's/^[[:space:]]*Summary .* tests? run: ([0-9]+) passed.*/\1/p')
        failed=$(sed -nE 's/^[[:space:]]*Summary .* tests? run: .*[^0-9]([0-9]+) failed.*/\1/p' "$logfile" | awk '{s+=$1} END {print s+0}')
        local timed_out
        timed_out=$(sum_matches "$logfile" 's/^[[:space:]]*Summary .*[^0-9]([0-9]+) timed out.*/\1/p')
        failed=$((failed + timed_out))
    else
        log "cargo test --workspace (cargo-nextest not installed)"
        run_logged "$logfile" cargo test --workspace --no-fail-fast --lib --bins --tests --examples || rc=$?
    fi
    log "cargo test --workspace --doc"
    local doclog="$LOG_DIR/rust-doc.log"
    : >"$doclog"
    run_logged "$doclog" cargo test --workspace --doc --no-fail-fast || rc=$?
    cat "$doclog" >>"$logfile"
    "$REPO_ROOT/scripts/ensure-postgres.sh" stop "$PG_DIR" >/dev/null 2>&1 || true; PG_DIR="" # issue 5
    # libtest: "test result: ok. 3 passed; 0 failed; 0 ignored; ..."
    local src="$doclog"
    cargo nextest --version >/dev/null 2>&1 || src="$logfile"
    passed=$((passed + $(sum_matches "$src" 's/^test result: [A-Z]+\. ([0-9]+) passed.*/\1/p')))
    failed=$((failed + $(sum_matches "$src" 's/^test result: .* ([0-9]+) failed;.*/\1/p')))
    if [[ $rc -ne 0 ]]; then
        [[ $failed -gt 0 ]] || { failed=1; note="build or runner error, see log"; }
        record rust FAIL "$passed" "$failed" "$((SECONDS - t0))" "$note"
    else
        record rust PASS "$passed" "$failed" "$((SECONDS - t0))"
    fi
}

# Schemathesis against a real relay process: unsigned, then signed (issue 15).
suite_api() {
    local logfile="$LOG_DIR/api.log" t0=$SECONDS passed=0 failed=0
    : >"$logfile"
    if ! build_cli; then
        record api ERROR 0 1 "$((SECONDS - t0))" "not run: the CLI did not build"
        return 0
    fi
    log "scripts/schemathesis.sh (relay /openapi.json, unsigned and signed)"
    if COLLABZIUM_CACHE="$CACHE" run_logged "$logfile" "$REPO_ROOT/scripts/schemathesis.sh" "$CLI_BIN"; then
        passed=2
        record api PASS "$passed" 0 "$((SECONDS - t0))" "schemathesis, 2 passes"
    else
        failed=1
        record api FAIL "$passed" "$failed" "$((SECONDS - t0))" "see ${logfile#"$REPO_ROOT"/}"
    fi
}

# Every committed fuzz corpus replayed, then a bounded libFuzzer run per target (issue 15).
suite_fuzz() {
    local logfile="$LOG_DIR/fuzz.log" t0=$SECONDS rc=0 passed failed
    : >"$logfile"
    log "scripts/fuzz.sh smoke (nightly + cargo-fuzz, installed when missing)"
    COLLABZIUM_CACHE="$CACHE" run_logged "$logfile" "$REPO_ROOT/scripts/fuzz.sh" smoke || rc=$?
    passed=$(grep -cE '^fuzz smoke: [a-z_]+ +ok ' "$logfile" || true)
    failed=$(grep -cE '^fuzz smoke: [a-z_]+ +FAILED' "$logfile" || true)
    if [[ $rc -eq 0 && $failed -eq 0 && $passed -gt 0 ]]; then
        record fuzz PASS "$passed" 0 "$((SECONDS - t0))" "targets: corpus replay + ${COLLABZIUM_FUZZ_SMOKE_S:-10}s each"
    else
        [[ $failed -gt 0 ]] || failed=1
        record fuzz FAIL "$passed" "$failed" "$((SECONDS - t0))" "see ${logfile#"$REPO_ROOT"/}"
    fi
}

# The stripped release library against its size budget (issue 11 §5). Its own cached target
# dir: the release LTO build takes minutes, and only what changed is rebuilt.
suite_size() {
    local logfile="$LOG_DIR/size.log" t0=$SECONDS rc=0 line
    : >"$logfile"
    log "scripts/ffi-size.sh (release cdylib, LTO + strip, budget ${COLLABZIUM_FFI_SIZE_BUDGET:-4194304} bytes)"
    COLLABZIUM_CACHE="$CACHE" run_logged "$logfile" "$REPO_ROOT/scripts/ffi-size.sh" || rc=$?
    line="$(grep -E '^ffi-size: .* is [0-9]+ bytes' "$logfile" | tail -n 1 || true)"
    line="${line#ffi-size: }"
    if [[ $rc -eq 0 ]]; then
        record size PASS 1 0 "$((SECONDS - t0))" "$line"
    else
        record size FAIL 0 1 "$((SECONDS - t0))" "${line:-build failed, see ${logfile#"$REPO_ROOT"/}}"
    fi
}

# The therapist's workstation in a real browser (issue 14): journeys, axe-core on every page,
# the security checks; screenshots and results.json in build/browser.
suite_browser() {
    local logfile="$LOG_DIR/browser.log" t0=$SECONDS rc=0 passed failed out="$BUILD_DIR/browser"
    : >"$logfile"
    if ! build_cli; then
        record browser ERROR 0 1 "$((SECONDS - t0))" "not run: the CLI did not build"
        return 0
    fi
    rm -rf "$out"
    mkdir -p "$out"
    log "tests/browser/journeys.cjs (chromium headless, playwright-core $PLAYWRIGHT_VERSION, axe-core $AXE_VERSION)"
    COLLABZIUM_BIN="$CLI_BIN" BROWSER_DEPS="$BROWSER_PREFIX" BROWSER_OUT="$out" CHROMIUM="$CHROMIUM_BIN" \
        run_logged "$logfile" node "$REPO_ROOT/tests/browser/journeys.cjs" || rc=$?
    passed=$(grep -cE '^PASS ' "$logfile" || true)
    failed=$(grep -cE '^FAIL ' "$logfile" || true)
    if [[ $rc -eq 0 && $failed -eq 0 && $passed -gt 0 ]]; then
        record browser PASS "$passed" 0 "$((SECONDS - t0))" "journeys; $(sed -nE 's/^axe: ([0-9]+) pages checked.*/axe on \1 pages/p' "$logfile" | tail -n 1); screenshots in ${out#"$REPO_ROOT"/}"
    else
        [[ $failed -gt 0 ]] || failed=1
        record browser FAIL "$passed" "$failed" "$((SECONDS - t0))" "see ${logfile#"$REPO_ROOT"/}"
    fi
}

suite_lint() {
    local logfile="$LOG_DIR/lint.log" t0=$SECONDS passed=0 failed=0 failing=()
    : >"$logfile"
    log "cargo fmt --all --check"
    if run_logged "$logfile" cargo fmt --all --check; then passed=$((passed + 1)); else failed=$((failed + 1)); failing+=(fmt); fi
    log "cargo clippy --workspace --all-targets -- -D warnings"
    if run_logged "$logfile" cargo clippy --workspace --all-targets -- -D warnings; then passed=$((passed + 1)); else failed=$((failed + 1)); failing+=(clippy); fi
    if [[ $failed -eq 0 ]]; then
        record lint PASS "$passed" 0 "$((SECONDS - t0))" "fmt, clippy"
    else
        record lint FAIL "$passed" "$failed" "$((SECONDS - t0))" "failed: ${failing[*]}"
    fi
}

# Each crate in PACKAGE_CRATES packages and its packaged copy builds on its own (cargo's
# verification step, in a target dir of its own under the cache, so registry dependencies
# stay cached between runs).
# --allow-dirty: we check that the current sources package, not the VCS state.
suite_package() {
    local logfile="$LOG_DIR/package.log" t0=$SECONDS c args=()
    : >"$logfile"
    # One invocation: cargo packages workspace members that depend on each other (the core
    # on the protocol) against a local overlay, so nothing has to be on crates.io first.
    for c in "${PACKAGE_CRATES[@]}"; do args+=(-p "$c"); done
    # The overlay serves our crates as registry crates of an unchanged version, and cargo
    # trusts a registry crate's name and version: an unpacked copy in CARGO_HOME or a
    # compiled one in the target dir from an earlier run would be reused, and a later core
    # verified against an earlier protocol. So both are removed first (never a crates.io one).
    local pkg_target="$CACHE/package-target" stale
    for stale in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/collabzium-* \
        "$pkg_target"/debug/.fingerprint/collabzium-* "$pkg_target"/debug/deps/*collabzium_*; do
        if [[ -e "$stale" ]]; then rm -rf -- "$stale"; fi
    done
    log "cargo package ${args[*]} --allow-dirty --locked (target: $pkg_target)"
    if CARGO_TARGET_DIR="$pkg_target" run_logged "$logfile" cargo package "${args[@]}" --allow-dirty --locked; then
        record package PASS "${#PACKAGE_CRATES[@]}" 0 "$((SECONDS - t0))" "${PACKAGE_CRATES[*]}"
    else
        record package FAIL 0 "${#PACKAGE_CRATES[@]}" "$((SECONDS - t0))" "failed: ${PACKAGE_CRATES[*]}, see ${logfile#"$REPO_ROOT"/}"
    fi
}

# The declared minimum Rust builds the whole workspace (every target) with the locked
# dependencies. Own target dir: another toolchain's artifacts would evict the main cache.
suite_msrv() {
    local logfile="$LOG_DIR/msrv.log" t0=$SECONDS
    : >"$logfile"
    [[ -n "$MSRV" ]] || { record msrv FAIL 0 1 0 "no rust-version in Cargo.toml"; return; }
    if ! rustup run "$MSRV" cargo --version >/dev/null 2>&1; then
        log "rustup toolchain install $MSRV --profile minimal"
        if ! run_logged "$logfile" rustup toolchain install "$MSRV" --profile minimal; then
            record msrv FAIL 0 1 "$((SECONDS - t0))" "could not install Rust $MSRV"
            return
        fi
    fi
    log "cargo +$MSRV check --workspace --all-targets --locked (target: $MSRV_TARGET)"
    if CARGO_TARGET_DIR="$MSRV_TARGET" run_logged "$logfile" rustup run "$MSRV" cargo check --workspace --all-targets --locked; then
        record msrv PASS 1 0 "$((SECONDS - t0))" "Rust $MSRV"
    else
        record msrv FAIL 0 1 "$((SECONDS - t0))" "Rust $MSRV, see ${logfile#"$REPO_ROOT"/}"
    fi
}

suite_kotlin() {
    local logfile="$LOG_DIR/kotlin.log" t0=$SECONDS out="$BUILD_DIR/kotlin"
    : >"$logfile"
    local lib="$KOTLIN_HOME/lib"
    local test_jars=()
    local j
    # kotlin-test (assertions; its -junit/-testng variants need frameworks we do not have)
    # and coroutines (for suspend functions in the bindings).
    for j in "$lib/kotlin-test.jar" "$lib/kotlinx-coroutines-core-jvm.jar"; do
        [[ -f "$j" ]] || { record kotlin FAIL 0 1 "$((SECONDS - t0))" "missing $j"; return; }
        test_jars+=("$j")
    done
    local compile_cp runtime_cp
    compile_cp="$(IFS=:; echo "$JNA_JAR:${test_jars[*]}")"
    runtime_cp="$out/tests.jar:$lib/kotlin-stdlib.jar:$compile_cp"
    local sources=()
    mapfile -t sources < <(find "$BINDINGS_DIR/org" -name '*.kt' | sort; find "$REPO_ROOT/tests/kotlin" -name '*.kt' | sort)
    mkdir -p "$out"
    # Recompile only when a source (generated or test) or the compiler changed.
    local hash
    hash="$( { echo "$KOTLIN_VERSION $compile_cp"; cat "${sources[@]}"; printf '%s\n' "${sources[@]}"; } | sha256 | cut -d' ' -f1)"
    if [[ -f "$out/tests.jar" && "$(cat "$out/tests.jar.sha256" 2>/dev/null)" == "$hash" ]]; then
        log "kotlin: sources unchanged, reusing ${out#"$REPO_ROOT"/}/tests.jar"
    else
        log "kotlinc (${#sources[@]} files)"
        rm -f "$out/tests.jar" "$out/tests.jar.sha256"
        if ! run_logged "$logfile" "$KOTLIN_HOME/bin/kotlinc" -classpath "$compile_cp" -jvm-target 17 \
            -nowarn -d "$out/tests.jar" "${sources[@]}"; then
            record kotlin FAIL 0 1 "$((SECONDS - t0))" "compile error, see log"
            return
        fi
        echo "$hash" >"$out/tests.jar.sha256"
    fi
    if ! build_cli; then
        record kotlin FAIL 0 1 "$((SECONDS - t0))" "cargo build -p collabzium-cli failed, see build.log"
        return
    fi
    log "running Kotlin tests"
    local rc=0
    COLLABZIUM_BIN="$CLI_BIN" LD_LIBRARY_PATH="$FFI_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        run_logged "$logfile" java -Djna.library.path="$FFI_LIB_DIR" -Djava.io.tmpdir="${TMPDIR:-/tmp}" \
        -cp "$runtime_cp" org.collabzium.tests.TestRunnerKt || rc=$?
    local line passed failed
    line="$(grep -E '^kotlin: [0-9]+ passed, [0-9]+ failed$' "$logfile" | tail -n 1 || true)"
    if [[ -z "$line" ]]; then
        record kotlin FAIL 0 1 "$((SECONDS - t0))" "runner crashed (exit $rc), see log"
        return
    fi
    passed="$(sed -E 's/^kotlin: ([0-9]+) passed.*/\1/' <<<"$line")"
    failed="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")"
    if [[ $rc -eq 0 && $failed -eq 0 ]]; then
        record kotlin PASS "$passed" 0 "$((SECONDS - t0))"
    else
        [[ $failed -gt 0 ]] || failed=1
        record kotlin FAIL "$passed" "$failed" "$((SECONDS - t0))"
    fi
}

# The Android app (issue 12): scripts/build-apk.sh builds and checks the debug APK (a compile
# error in android/ fails here), then the app-logic journeys run on the JVM against the real
# library and a relay process. Counts: the APK checks plus the journey tests.
suite_android() {
    local logfile="$LOG_DIR/android.log" t0=$SECONDS out="$BUILD_DIR/android-tests"
    : >"$logfile"
    log "scripts/build-apk.sh (debug APK: kotlinc against android.jar, ProGuard, dx, aapt2, apksigner; then its checks)"
    if ! COLLABZIUM_CACHE="$CACHE" KOTLIN_HOME="$KOTLIN_HOME" COLLABZIUM_JNA_JAR="$JNA_JAR" CARGO_TARGET_DIR="$CARGO_TARGET" \
        run_logged "$logfile" "$REPO_ROOT/scripts/build-apk.sh"; then
        local bad
        bad="$(grep -c '^build-apk: FAIL ' "$logfile" || true)"
        record android FAIL "$(grep -c '^build-apk: ok ' "$logfile" || true)" "$((bad > 0 ? bad : 1))" "$((SECONDS - t0))" "APK build or checks failed, see log"
        return
    fi
    local apk_checks
    apk_checks="$(grep -c '^build-apk: ok ' "$logfile" || true)"
    if ! build_cli; then
        record android FAIL "$apk_checks" 1 "$((SECONDS - t0))" "cargo build -p collabzium-cli failed, see build.log"
        return
    fi
    local lib="$KOTLIN_HOME/lib" sources=()
    mapfile -t sources < <(
        find "$BUILD_DIR/android/bindings" -name '*.kt' | sort
        find "$REPO_ROOT/android/app-logic/src" -name '*.kt' | sort
        echo "$REPO_ROOT/android/platform/src/main/kotlin/org/collabzium/platform/UrlConnectionTransport.kt"
        echo "$REPO_ROOT/tests/kotlin/TestRunner.kt"
    )
    local cp="$JNA_JAR:$lib/kotlinx-coroutines-core-jvm.jar:$lib/kotlin-test.jar"
    rm -rf "$out"
    mkdir -p "$out"
    log "kotlinc: app-logic journeys (${#sources[@]} files)"
    if ! run_logged "$logfile" "$KOTLIN_HOME/bin/kotlinc" -classpath "$cp" -jvm-target 17 -nowarn -d "$out/journeys.jar" "${sources[@]}"; then
        record android FAIL "$apk_checks" 1 "$((SECONDS - t0))" "journeys: compile error, see log"
        return
    fi
    log "running the app-logic journeys"
    local rc=0 line passed failed
    COLLABZIUM_BIN="$CLI_BIN" COLLABZIUM_PROGRAMS_DIR="$REPO_ROOT/cli/data/programs" \
        LD_LIBRARY_PATH="$FFI_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        run_logged "$logfile" java -Djna.library.path="$FFI_LIB_DIR" -Djava.io.tmpdir="${TMPDIR:-/tmp}" \
        -cp "$out/journeys.jar:$lib/kotlin-stdlib.jar:$cp" org.collabzium.tests.TestRunnerKt || rc=$?
    line="$(grep -E '^kotlin: [0-9]+ passed, [0-9]+ failed$' "$logfile" | tail -n 1 || true)"
    if [[ -z "$line" ]]; then
        record android FAIL "$apk_checks" 1 "$((SECONDS - t0))" "journey runner crashed (exit $rc), see log"
        return
    fi
    passed="$(sed -E 's/^kotlin: ([0-9]+) passed.*/\1/' <<<"$line")"
    failed="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")"
    local note="APK checks $apk_checks, journeys $passed passed"
    if [[ $rc -eq 0 && $failed -eq 0 ]]; then
        record android PASS "$((apk_checks + passed))" 0 "$((SECONDS - t0))" "$note"
    else
        [[ $failed -gt 0 ]] || failed=1
        record android FAIL "$((apk_checks + passed))" "$failed" "$((SECONDS - t0))" "$note, $failed failed"
    fi
}

# Make <dst> a copy of <src> (files only), touching only files that differ so that
# SwiftPM's incremental build (which looks at mtime and inode) stays valid. <dst>/.build is kept.
sync_dir() { # sync_dir <src> <dst>
    local src=$1 dst=$2 rel
    mkdir -p "$dst"
    while IFS= read -r -d '' rel; do
        rel="${rel#./}"
        mkdir -p "$(dirname "$dst/$rel")"
        cmp -s "$src/$rel" "$dst/$rel" || cp -p "$src/$rel" "$dst/$rel"
    done < <(cd "$src" && find . -type f -print0)
    while IFS= read -r -d '' rel; do
        rel="${rel#./}"
        [[ -e "$src/$rel" ]] || rm -f "$dst/$rel"
    done < <(cd "$dst" && find . -path ./.build -prune -o -type f -print0)
}

# The package as SwiftPM sees it: tests/swift plus the generated sources (and the library).
stage_swift_package() { # stage_swift_package <dest> [<lib dir>]
    local dest=$1 lib_dir=${2:-} stage="$BUILD_DIR/swift-stage"
    rm -rf "$stage"
    mkdir -p "$stage"
    cp -R "$REPO_ROOT/tests/swift/." "$stage/"
    rm -rf "$stage/.build" "$stage/Sources"
    mkdir -p "$stage/Sources/CollabziumFFI" "$stage/Sources/Collabzium"
    cp "$BINDINGS_DIR/CollabziumFFI.h" "$stage/Sources/CollabziumFFI/CollabziumFFI.h"
    cp "$BINDINGS_DIR/CollabziumFFI.modulemap" "$stage/Sources/CollabziumFFI/module.modulemap"
    cp "$BINDINGS_DIR/Collabzium.swift" "$stage/Sources/Collabzium/Collabzium.swift"
    sync_dir "$stage" "$dest"
    if [[ -n "$lib_dir" ]]; then
        mkdir -p "$lib_dir"
        cmp -s "$FFI_LIB" "$lib_dir/$(basename "$FFI_LIB")" || cp "$FFI_LIB" "$lib_dir/"
    fi
}

suite_swift() {
    local logfile="$LOG_DIR/swift.log" t0=$SECONDS rc=0
    : >"$logfile"
    local filter=()
    if [[ -n "${COLLABZIUM_TEST_FILTER:-}" ]]; then filter=(--filter "$COLLABZIUM_TEST_FILTER"); fi
    if ! build_cli; then
        record swift FAIL 0 1 "$((SECONDS - t0))" "cargo build -p collabzium-cli failed, see build.log"
        return
    fi
    if [[ "$OS" == Darwin ]]; then
        local pkg="$BUILD_DIR/swift-package"
        stage_swift_package "$pkg"
        log "swift test (native)"
        (cd "$pkg" && COLLABZIUM_BIN="$CLI_BIN" run_logged "$logfile" swift test -Xlinker -L"$FFI_LIB_DIR" \
            -Xlinker -rpath -Xlinker "$FFI_LIB_DIR" "${filter[@]}") || rc=$?
    else
        local root="$SWIFT_ROOT"
        swift_lock
        stage_swift_package "$root/work/collabzium/package" "$root/work/collabzium/lib"
        # The relay binary runs inside the chroot (it needs glibc <= trixie's, i.e. a host no
        # newer than Debian trixie; loopback is shared with the host anyway).
        mkdir -p "$root/work/collabzium/bin"
        cmp -s "$CLI_BIN" "$root/work/collabzium/bin/collabzium" || cp "$CLI_BIN" "$root/work/collabzium/bin/collabzium"
        mount_chroot_fs "$root"
        log "swift test (in the trixie chroot $root)"
        run_logged "$logfile" chroot_run "$root" env COLLABZIUM_BIN=/work/collabzium/bin/collabzium sh -c 'cd /work/collabzium/package && exec swift test \
            -Xlinker -L/work/collabzium/lib -Xlinker -rpath -Xlinker /work/collabzium/lib "$@"' \
            swift-test "${filter[@]}" || rc=$?
        unmount_chroot_fs "$root"
        swift_unlock
    fi
    # XCTest: "Test Case 'VersionTests.testX' passed (0.001 seconds)" / "... failed (...)"
    local passed failed
    passed="$(grep -cE "^Test Case '.*' passed \(" "$logfile" || true)"
    failed="$(grep -cE "^Test Case '.*' failed \(" "$logfile" || true)"
    echo "swift: $passed passed, $failed failed"
    if [[ $rc -eq 0 && $failed -eq 0 && $passed -gt 0 ]]; then
        record swift PASS "$passed" 0 "$((SECONDS - t0))"
    else
        local note=""
        if [[ $failed -eq 0 ]]; then
            failed=1
            if [[ $passed -eq 0 && $rc -eq 0 ]]; then note="no tests ran"; else note="build error (exit $rc), see log"; fi
        fi
        record swift FAIL "$passed" "$failed" "$((SECONDS - t0))" "$note"
    fi
}

# The iOS app (issue 13, docs/adr/0010-ios-app.md): ios/Package.swift (the generated bindings,
# CollabziumAppCore's state holders, the Linux shim, the journeys) built and tested with
# `swift test` in the trixie chroot against the host-built library and a relay process; then
# `swiftc -parse` over every file of ios/App (Apple-only: syntax only here, never type-checked).
# Counts: journey/quality tests passed plus App files parsed.
stage_ios_package() { # stage_ios_package <dest>
    local dest=$1 stage="$BUILD_DIR/ios-stage"
    rm -rf "$stage"
    mkdir -p "$stage"
    cp "$REPO_ROOT/ios/Package.swift" "$stage/"
    cp -R "$REPO_ROOT/ios/Sources" "$REPO_ROOT/ios/Tests" "$stage/"
    rm -rf "$stage/Sources/Collabzium" "$stage/Sources/CollabziumFFI"
    mkdir -p "$stage/Sources/CollabziumFFI" "$stage/Sources/Collabzium"
    cp "$BINDINGS_DIR/CollabziumFFI.h" "$stage/Sources/CollabziumFFI/CollabziumFFI.h"
    cp "$BINDINGS_DIR/CollabziumFFI.modulemap" "$stage/Sources/CollabziumFFI/module.modulemap"
    cp "$BINDINGS_DIR/Collabzium.swift" "$stage/Sources/Collabzium/Collabzium.swift"
    sync_dir "$stage" "$dest"
}

suite_ios() {
    local logfile="$LOG_DIR/ios.log" t0=$SECONDS rc=0
    : >"$logfile"
    if [[ "$OS" != Linux ]]; then
        # On a Mac the package links the XCFramework instead: ios/build-xcframework.sh, then
        # `swift test` in ios/ (README, "iOS"). Not automated here.
        record ios ERROR 0 0 "$((SECONDS - t0))" "Linux only; on macOS run ios/build-xcframework.sh, then swift test in ios/"
        return
    fi
    local filter=()
    if [[ -n "${COLLABZIUM_TEST_FILTER:-}" ]]; then filter=(--filter "$COLLABZIUM_TEST_FILTER"); fi
    if ! build_cli; then
        record ios FAIL 0 1 "$((SECONDS - t0))" "cargo build -p collabzium-cli failed, see build.log"
        return
    fi
    local root="$SWIFT_ROOT" app_files=() f
    mapfile -t app_files < <(cd "$REPO_ROOT/ios/App" && find . -name '*.swift' | sed 's|^\./||' | sort)
    swift_lock
    stage_ios_package "$root/work/collabzium-ios/package"
    # The library and the relay binary are shared with the swift suite (same files, same lock).
    mkdir -p "$root/work/collabzium/lib" "$root/work/collabzium/bin"
    cmp -s "$FFI_LIB" "$root/work/collabzium/lib/$(basename "$FFI_LIB")" || cp "$FFI_LIB" "$root/work/collabzium/lib/"
    cmp -s "$CLI_BIN" "$root/work/collabzium/bin/collabzium" || cp "$CLI_BIN" "$root/work/collabzium/bin/collabzium"
    sync_dir "$REPO_ROOT/cli/data/programs" "$root/work/collabzium-ios/programs"
    rm -rf "$root/work/collabzium-ios/app"
    mkdir -p "$root/work/collabzium-ios/app"
    cp -R "$REPO_ROOT/ios/App/." "$root/work/collabzium-ios/app/"
    mount_chroot_fs "$root"
    log "swift test: ios/Package.swift (in the trixie chroot $root)"
    run_logged "$logfile" chroot_run "$root" env COLLABZIUM_BIN=/work/collabzium/bin/collabzium \
        COLLABZIUM_PROGRAMS_DIR=/work/collabzium-ios/programs sh -c 'cd /work/collabzium-ios/package && exec swift test \
        -Xlinker -L/work/collabzium/lib -Xlinker -rpath -Xlinker /work/collabzium/lib "$@"' \
        swift-test "${filter[@]}" || rc=$?
    log "swiftc -parse: ios/App (${#app_files[@]} files; syntax only, Apple frameworks are not here)"
    local parsed=0 parse_failed=0
    for f in "${app_files[@]}"; do
        if run_logged "$logfile" chroot_run "$root" swiftc -parse "/work/collabzium-ios/app/$f"; then
            parsed=$((parsed + 1))
        else
            parse_failed=$((parse_failed + 1))
            echo "ios: swiftc -parse failed: ios/App/$f" >>"$logfile"
        fi
    done
    unmount_chroot_fs "$root"
    swift_unlock
    local passed failed
    passed="$(grep -cE "^Test Case '.*' passed \(" "$logfile" || true)"
    failed="$(grep -cE "^Test Case '.*' failed \(" "$logfile" || true)"
    echo "ios: $passed passed, $failed failed; ios/App: $parsed parsed, $parse_failed failed"
    local note="journeys $passed passed, ios/App $parsed files parsed"
    if [[ $rc -eq 0 && $failed -eq 0 && $passed -gt 0 && $parse_failed -eq 0 && $parsed -gt 0 ]]; then
        record ios PASS "$((passed + parsed))" 0 "$((SECONDS - t0))" "$note"
    else
        if [[ $failed -eq 0 && $rc -ne 0 ]]; then failed=1; note="$note; build error (exit $rc), see log"; fi
        if [[ $passed -eq 0 && $rc -eq 0 ]]; then failed=$((failed + 1)); note="$note; no tests ran"; fi
        if [[ $parsed -eq 0 ]]; then parse_failed=$((parse_failed + 1)); fi
        record ios FAIL "$((passed + parsed))" "$((failed + parse_failed))" "$((SECONDS - t0))" "$note"
    fi
}

# ---------------------------------------------------------------- main
mkdir -p "$LOG_DIR"
log "Collabzium tests: ${SELECTED[*]} (cache: $CACHE)"
setup_prereqs
if [[ $SETUP_ONLY == 1 ]]; then exit 0; fi

if wants kotlin || wants swift || wants ios; then
    if ! build_bindings; then
        for s in kotlin swift ios; do wants "$s" && record "$s" ERROR 0 0 "" "not run: FFI build/bindgen failed"; done
        print_summary || true
        die "building collabzium-ffi or generating bindings failed (log: ${LOG_DIR#"$REPO_ROOT"/}/build.log)"
    fi
fi

for suite in "${ALL_SUITES[@]}"; do
    wants "$suite" || continue
    "suite_$suite"
done

print_summary
