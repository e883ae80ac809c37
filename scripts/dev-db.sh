#!/usr/bin/env bash
# Find or start a PostgreSQL server for local development and tests.
#
#   scripts/dev-db.sh          print ONE line on stdout: a server URL without a
#                              database name, e.g. postgres://postgres@127.0.0.1:5432
#   scripts/dev-db.sh stop     stop the project-local cluster (if it runs)
#   scripts/dev-db.sh status   exit 0 if the project-local cluster runs, 3 otherwise
#
# Progress and errors go to stderr, so `url=$(scripts/dev-db.sh)` is safe.
#
# Decision order (first that works wins):
#   1. $GATEHOUSE_PG_URL, printed as given.
#   2. A server already listening on 127.0.0.1:5432
#      (user $PGUSER, default postgres; password $PGPASSWORD, default none).
#   3. `docker compose up -d postgres` with the repo's docker-compose.yml.
#   4. A project-local cluster in <repo>/.pgdata on 127.0.0.1:55432
#      (port: $GATEHOUSE_LOCAL_PG_PORT), made with initdb/pg_ctl.
#   5. Give up with instructions.
#
# GATEHOUSE_DB_BOOTSTRAP=localhost|docker|local forces one of 2-4.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
LOCAL_PORT="${GATEHOUSE_LOCAL_PG_PORT:-55432}"

log() { printf 'dev-db: %s\n' "$*" >&2; }
die() {
    printf 'dev-db: error: %s\n' "$*" >&2
    exit 1
}

port_open() { # host port
    timeout 2 bash -c "</dev/tcp/$1/$2" >/dev/null 2>&1
}

urlencode() {
    local s="$1" out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c="${s:i:1}"
        case "$c" in
        [a-zA-Z0-9._~-]) out+="$c" ;;
        *) out+="$(printf '%%%02X' "'$c")" ;;
        esac
    done
    printf '%s' "$out"
}

# --------------------------------------------------------------------------
# 2. a server already listening on 127.0.0.1:5432
# --------------------------------------------------------------------------
localhost_url() {
    local user="${PGUSER:-postgres}" auth
    auth="$(urlencode "$user")"
    if [[ -n "${PGPASSWORD:-}" ]]; then
        auth+=":$(urlencode "$PGPASSWORD")"
    fi
    printf 'postgres://%s@127.0.0.1:5432' "$auth"
}

# Returns 0 if the URL is usable, 1 if the server rejected our credentials,
# 0 as well when psql is not installed (we cannot tell, so trust the port).
credentials_ok() { # server-url
    command -v psql >/dev/null 2>&1 || return 0
    local err
    if err="$(PGCONNECT_TIMEOUT=3 timeout 10 psql "$1/postgres" -XAtqc 'select 1' 2>&1 >/dev/null </dev/null)"; then
        return 0
    fi
    case "$err" in
    *"authentication failed"* | *"no password supplied"* | *'role "'*'" does not exist'* | *"pg_hba.conf"*)
        log "the server on 127.0.0.1:5432 refused ${1%%@*}@...: ${err%%$'\n'*}"
        return 1
        ;;
    esac
    return 0
}

# Can we use it? Exits (instead of returning 1) when the caller chose this
# path explicitly: forced, or PGUSER/PGPASSWORD given.
localhost_usable() { # forced(0|1)
    local forced="$1"
    if ! port_open 127.0.0.1 5432; then
        [[ "$forced" == 1 ]] && die "nothing listens on 127.0.0.1:5432"
        return 1
    fi
    if ! credentials_ok "$(localhost_url)"; then
        if [[ "$forced" == 1 || -n "${PGUSER:-}" || -n "${PGPASSWORD:-}" ]]; then
            die "set PGUSER/PGPASSWORD (or GATEHOUSE_PG_URL) to credentials the server on 127.0.0.1:5432 accepts"
        fi
        log "not using 127.0.0.1:5432 (set PGUSER/PGPASSWORD to use it); trying the other options"
        return 1
    fi
    return 0
}

use_localhost() {
    localhost_usable 1
    log "using the PostgreSQL server on 127.0.0.1:5432"
    printf '%s\n' "$(localhost_url)"
}

# --------------------------------------------------------------------------
# 3. docker compose
# --------------------------------------------------------------------------
compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -f "$REPO/docker-compose.yml" "$@"
    elif command -v docker-compose >/dev/null 2>&1; then
        docker-compose -f "$REPO/docker-compose.yml" "$@"
    else
        die "neither the 'docker compose' plugin nor 'docker-compose' is installed"
    fi
}

docker_usable() { # forced(0|1)
    local forced="$1"
    if ! command -v docker >/dev/null 2>&1; then
        [[ "$forced" == 1 ]] && die "docker is not installed"
        return 1
    fi
    if ! timeout 20 docker info >/dev/null 2>&1; then
        [[ "$forced" == 1 ]] && die "docker is installed but its daemon is not reachable ('docker info' fails)"
        return 1
    fi
    return 0
}

use_docker() {
    local i
    docker_usable 1
    log "starting PostgreSQL with docker compose"
    compose up -d postgres >&2 || die "'docker compose up -d postgres' failed"
    for ((i = 0; i < 60; i++)); do
        if port_open 127.0.0.1 5432 &&
            compose exec -T postgres pg_isready -q -U postgres >/dev/null 2>&1; then
            log "PostgreSQL (docker) is ready on 127.0.0.1:5432"
            printf '%s\n' "postgres://postgres:postgres@127.0.0.1:5432"
            return 0
        fi
        sleep 1
    done
    die "the docker PostgreSQL did not answer on 127.0.0.1:5432 within 60 s (see: docker compose logs postgres)"
}

# --------------------------------------------------------------------------
# 4. project-local cluster
# --------------------------------------------------------------------------
PG_BIN=""      # directory holding initdb and pg_ctl
RUN_AS=""      # user to run them as (empty: ourselves)
PGDATA_DIR=""  # the cluster

tmp_pgdata() {
    local hash
    hash="$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
    printf '/tmp/gatehouse-pgdata-%s' "$hash"
}

# Directory with initdb+pg_ctl; prefer version $1 if given (an existing cluster).
find_pg_bin() { # [major-version]
    local want="${1:-}" d
    if [[ -n "$want" && -x "/usr/lib/postgresql/$want/bin/pg_ctl" && -x "/usr/lib/postgresql/$want/bin/initdb" ]]; then
        printf '%s' "/usr/lib/postgresql/$want/bin"
        return 0
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        d="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
        if [[ -x "$d/initdb" ]]; then
            printf '%s' "$d"
        else
            printf '%s' "$(dirname "$(command -v pg_ctl)")"
        fi
        return 0
    fi
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -rn); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            printf '%s' "$d"
            return 0
        fi
    done
    return 1
}

# Run a command as $RUN_AS (initdb and pg_ctl refuse to run as root).
as_owner() {
    if [[ -z "$RUN_AS" ]]; then
        (cd / && "$@")
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$RUN_AS" -- "$@")
    else
        local cmd
        cmd="$(printf '%q ' "$@")"
        (cd / && su "$RUN_AS" -s /bin/sh -c "$cmd")
    fi
}

pick_run_as() {
    RUN_AS=""
    [[ "$(id -u)" == 0 ]] || return 0
    if id -u postgres >/dev/null 2>&1; then
        RUN_AS=postgres
    else
        RUN_AS=nobody
    fi
}

# Find an existing cluster (repo, then /tmp), or choose where a new one goes.
locate_pgdata() {
    local tmpdir owner
    tmpdir="$(tmp_pgdata)"
    pick_run_as
    for PGDATA_DIR in "$REPO/.pgdata" "$tmpdir"; do
        if [[ -f "$PGDATA_DIR/PG_VERSION" && ! -L "$PGDATA_DIR" ]]; then
            if [[ "$(id -u)" == 0 ]]; then
                owner="$(stat -c %U "$PGDATA_DIR")"
                [[ "$owner" != root ]] && RUN_AS="$owner"
            fi
            return 0
        fi
    done
    PGDATA_DIR="$REPO/.pgdata"
    if [[ -n "$RUN_AS" ]] && ! as_owner test -x "$REPO" 2>/dev/null; then
        PGDATA_DIR="$tmpdir"
        log "note: $REPO is not reachable by user '$RUN_AS'; the cluster goes in $PGDATA_DIR instead"
    fi
    return 0
}

cluster_running() {
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] || return 1
    as_owner "$PG_BIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

# The port a running cluster listens on (line 4 of postmaster.pid).
running_port() {
    local p
    p="$(sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)"
    [[ "$p" =~ ^[0-9]+$ ]] && printf '%s' "$p" || printf '%s' "$LOCAL_PORT"
}

init_cluster() {
    if [[ -L "$PGDATA_DIR" ]]; then
        die "$PGDATA_DIR is a symlink; refusing to use it"
    fi
    mkdir -p "$PGDATA_DIR"
    chmod 700 "$PGDATA_DIR"
    if [[ -n "$RUN_AS" ]]; then
        chown "$RUN_AS": "$PGDATA_DIR"
        as_owner test -w "$PGDATA_DIR" ||
            die "user '$RUN_AS' cannot write to $PGDATA_DIR"
    fi
    log "creating a PostgreSQL cluster in $PGDATA_DIR${RUN_AS:+ (as user $RUN_AS)}"
    local out
    if ! out="$(as_owner "$PG_BIN/initdb" -D "$PGDATA_DIR" -A trust -U postgres \
        --encoding=UTF8 --locale=C --no-instructions 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "initdb failed"
    fi
    # A throw-away development cluster: local TCP only, socket kept inside the
    # data directory, durability traded for speed.
    as_owner tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF

# --- added by scripts/dev-db.sh (development only) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGDATA_DIR'
port = $LOCAL_PORT
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

start_cluster() {
    log "starting the local PostgreSQL on 127.0.0.1:$LOCAL_PORT"
    if ! as_owner "$PG_BIN/pg_ctl" start -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" \
        -o "-p $LOCAL_PORT" -w -t 30 >/dev/null 2>&1; then
        tail -n 20 "$PGDATA_DIR/server.log" >&2 2>/dev/null || true
        die "could not start PostgreSQL in $PGDATA_DIR (log: $PGDATA_DIR/server.log; is port $LOCAL_PORT taken?)"
    fi
}

local_usable() {
    find_pg_bin >/dev/null
}

use_local() {
    local version="" port i
    [[ "$LOCAL_PORT" =~ ^[0-9]+$ ]] || die "GATEHOUSE_LOCAL_PG_PORT must be a port number, not '$LOCAL_PORT'"
    locate_pgdata
    if [[ -f "$PGDATA_DIR/PG_VERSION" ]]; then
        version="$(cat "$PGDATA_DIR/PG_VERSION")"
    fi
    PG_BIN="$(find_pg_bin "$version")" ||
        die "initdb/pg_ctl not found (looked in PATH and /usr/lib/postgresql/*/bin)"
    if [[ -n "$version" ]]; then
        if cluster_running; then
            port="$(running_port)"
            log "reusing the running local PostgreSQL in $PGDATA_DIR (port $port)"
        else
            start_cluster
            port="$LOCAL_PORT"
        fi
    else
        init_cluster
        start_cluster
        port="$LOCAL_PORT"
    fi
    for ((i = 0; i < 30; i++)); do
        if port_open 127.0.0.1 "$port"; then
            printf '%s\n' "postgres://postgres@127.0.0.1:$port"
            return 0
        fi
        sleep 1
    done
    die "the local PostgreSQL did not accept TCP connections on 127.0.0.1:$port within 30 s (log: $PGDATA_DIR/server.log)"
}

stop_local() {
    local version=""
    locate_pgdata
    if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
        log "no project-local cluster"
        return 0
    fi
    version="$(cat "$PGDATA_DIR/PG_VERSION")"
    PG_BIN="$(find_pg_bin "$version")" || die "pg_ctl not found"
    if cluster_running; then
        as_owner "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w >/dev/null
        log "stopped the local PostgreSQL in $PGDATA_DIR"
    else
        log "the local PostgreSQL in $PGDATA_DIR is not running"
    fi
}

status_local() {
    locate_pgdata
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] || { log "no project-local cluster"; return 3; }
    PG_BIN="$(find_pg_bin "$(cat "$PGDATA_DIR/PG_VERSION")")" || die "pg_ctl not found"
    if cluster_running; then
        log "running: $PGDATA_DIR on port $(running_port)"
        return 0
    fi
    log "stopped: $PGDATA_DIR"
    return 3
}

give_up() {
    cat >&2 <<'EOF'
dev-db: error: no PostgreSQL server found and none could be started.

Pick one:
  * install PostgreSQL (Debian/Ubuntu: apt-get install postgresql;
    macOS: brew install postgresql@16) - a server on 127.0.0.1:5432 is used
    as is, otherwise a project-local cluster is created in .pgdata/;
  * start Docker (the repo's docker-compose.yml provides PostgreSQL);
  * or point at an existing server: GATEHOUSE_PG_URL=postgres://user:pass@host:port
    (make run/migrate also honour DATABASE_URL=postgres://.../gatehouse,
     make test honours GATEHOUSE_TEST_PG_URL).
EOF
    exit 1
}

main() {
    case "${1:-}" in
    "") ;;
    stop)
        stop_local
        return
        ;;
    status)
        status_local
        return
        ;;
    -h | --help | help)
        sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        return 0
        ;;
    *) die "unknown argument '$1' (usage: $0 [stop|status])" ;;
    esac

    if [[ -n "${GATEHOUSE_PG_URL:-}" ]]; then
        printf '%s\n' "${GATEHOUSE_PG_URL%/}"
        return 0
    fi

    local mode="${GATEHOUSE_DB_BOOTSTRAP:-}"
    if [[ -z "$mode" ]]; then
        if localhost_usable 0; then
            mode=localhost
        elif docker_usable 0; then
            mode=docker
        elif local_usable; then
            mode=local
        else
            give_up
        fi
    fi
    # The use_* functions run outside any `if`/`||`, so `set -e` applies.
    case "$mode" in
    localhost) use_localhost ;;
    docker) use_docker ;;
    local) use_local ;;
    *) die "GATEHOUSE_DB_BOOTSTRAP must be one of localhost, docker, local (got '$mode')" ;;
    esac
}

main "$@"
