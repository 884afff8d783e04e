# Shared by scripts/bench-apply.sh and scripts/bench-cycles.sh (sourced, not run).
# Makes a copy of the seed environment under a unique name (so that parallel
# runs and other environments are never touched) and finds the chronous binary
# the way scripts/up.sh builds it.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="${CHRONOUS_CACHE:-$HOME/.cache/chronous}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
# The build scripts/up.sh makes (debug); BENCH_PROFILE=release for the other.
BENCH_PROFILE=${BENCH_PROFILE:-debug}
CHRONOUS=${CHRONOUS:-$CARGO_TARGET_DIR/$BENCH_PROFILE/chronous}
export CHRONOUS_SIM_TIME_SCALE="${CHRONOUS_SIM_TIME_SCALE:-30}"

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
secs() { printf '%d.%03d' "$(($1 / 1000))" "$(($1 % 1000))"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

build_chronous() {
    if [[ -n ${BENCH_NO_BUILD:-} ]]; then
        :
    elif [[ $BENCH_PROFILE == release ]]; then
        (cd "$ROOT" && cargo build -q --release -p chronous-cli)
    else
        (cd "$ROOT" && cargo build -q -p chronous-cli)
    fi
    [[ -x $CHRONOUS ]] || die "no chronous binary at $CHRONOUS"
    bash "$ROOT/images/build.sh" >/dev/null
}

# make_env DIR NAME: the seed environment renamed NAME, its backup by absolute path.
make_env() {
    local dir=$1 name=$2
    mkdir -p "$dir"
    cp "$ROOT/fixtures/seed/aws-ssh.pub" "$dir/"
    sed -e "s/^name = \"seed\"/name = \"$name\"/" \
        -e "s|^backup_file = .*|backup_file = \"$ROOT/fixtures/backup/db-backup.tar.gz\"|" \
        "$ROOT/fixtures/seed/chronous.toml" > "$dir/chronous.toml"
    grep -q "^name = \"$name\"" "$dir/chronous.toml" || die "could not rename the seed environment"
}

# labelled ENV: the containers, volumes and networks labelled chronous.environment=ENV.
labelled() {
    local f="label=chronous.environment=$1"
    {
        docker ps -aq --filter "$f" | sed 's/^/container /'
        docker volume ls -q --filter "$f" | sed 's/^/volume /'
        docker network ls -q --filter "$f" | sed 's/^/network /'
    } | sed '/^$/d'
}

# curl_200 URL [TIMEOUT_S]: poll every 20 ms until URL answers 200; fails after the timeout.
curl_200() {
    local url=$1 deadline=$((SECONDS + ${2:-300}))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url") == 200 ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.02
    done
}

# The database password, as scripts/up.sh makes it.
db_password() {
    if [[ -z ${CHRONOUS_DB_PASSWORD:-} ]]; then
        local pwfile="$CACHE/seed-db-password"
        if [[ ! -s $pwfile ]]; then
            (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$pwfile")
        fi
        CHRONOUS_DB_PASSWORD="$(cat "$pwfile")"
        export CHRONOUS_DB_PASSWORD
    fi
}
