#!/usr/bin/env bash
# Apply-to-first-200 of the seed environment in the simulator (docker runtime)
# against its floor. Usage: bash scripts/bench-apply.sh [RUNS]   (default 3)
#
# chronous: `chronous --json apply --auto-approve` of a copy of the seed (renamed,
# so nothing else is touched), then `curl` of the ELB's /gettoken until 200;
# timed from the start of apply to the first 200. Each JSON event is stamped
# with the time it arrived (kept in $BENCH_OUT, default target/bench-apply).
#
# floor: the same containers, started by hand with docker commands in the
# fastest order (the bastion in parallel): the volume, the mariadb helper that
# receives the backup (docker cp) and runs `mariabackup --prepare` + chown, the
# DB server on the network (wait until chronous-db-ready), the app container,
# then curl of the app's /gettoken until 200; plus the health checks' own
# minimum at this time scale: HealthyThreshold x Interval / time scale (the
# seed: 10 x 30 s / 30 = 10 s).
#
# Environment: CHRONOUS_SIM_TIME_SCALE (30, as scripts/up.sh), BENCH_PROFILE
# (debug, the build scripts/up.sh makes; or release), CHRONOUS (binary path).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
RUNS=${1:-3}
OUT=${BENCH_OUT:-$ROOT/target/bench-apply}
mkdir -p "$OUT"
build_chronous
db_password

hc=$(grep '^health_check' "$ROOT/fixtures/seed/chronous.toml")
interval=$(sed -n 's/.*[ {]interval = \([0-9]*\).*/\1/p' <<<"$hc")
healthy=$(sed -n 's/.*[ {]healthy_threshold = \([0-9]*\).*/\1/p' <<<"$hc")
HC_MS=$(python3 -c "print(round($healthy * $interval * 1000 / $CHRONOUS_SIM_TIME_SCALE))")

MARIADB=chronous/mariadb:10.11
APP=chronous-payments-web-api:1.0
BASTION=chronous/debian-base:bookworm

# One floor run; prints "docker_ms".
floor_run() {
    local env=benchfloor-$$-$1 t0 net vol helper db app port
    local label="chronous.environment=$env"
    net=chronous-$env vol=$env-data helper=$env-prepare db=$env-db app=$env-app
    # shellcheck disable=SC2064
    trap "docker rm -f -v $helper $db $app $env-bastion >/dev/null 2>&1 || true; docker volume rm -f $vol >/dev/null 2>&1 || true; docker network rm $net >/dev/null 2>&1 || true" EXIT
    t0=$(now_ms)
    docker network create --label "$label" "$net" >/dev/null
    docker run -d --name "$env-bastion" --label "$label" --network "$net" --network-alias bastion \
        "$BASTION" sleep infinity >/dev/null &
    docker volume create --label "$label" "$vol" >/dev/null
    docker create --name "$helper" --label "$label" --network none -v "$vol:/var/lib/mysql" \
        --entrypoint bash "$MARIADB" -c \
        'set -e; mariabackup --prepare --target-dir=/var/lib/mysql --use-memory=64M; chown -R mysql:mysql /var/lib/mysql' >/dev/null
    docker cp - "$helper:/var/lib/mysql" < "$ROOT/fixtures/backup/db-backup.tar.gz"
    docker start "$helper" >/dev/null
    [[ $(docker wait "$helper") == 0 ]] || die "floor: prepare failed"
    docker rm -f -v "$helper" >/dev/null
    docker run -d --name "$db" --label "$label" --network "$net" --network-alias db \
        -v "$vol:/var/lib/mysql" -p 127.0.0.1::3306 \
        -e MARIADB_ROOT_PASSWORD="$CHRONOUS_DB_PASSWORD" -e MARIADB_USER=dev \
        -e MARIADB_PASSWORD="$CHRONOUS_DB_PASSWORD" -e MARIADB_DATABASE=db "$MARIADB" >/dev/null
    until docker exec "$db" chronous-db-ready 2>/dev/null; do sleep 0.02; done
    docker run -d --name "$app" --label "$label" --network "$net" -m 128m -p 127.0.0.1::80 \
        -e DB_HOST=db -e DB_NAME=paymentsdb -e DB_USER=dev -e DB_PASSWORD="$CHRONOUS_DB_PASSWORD" \
        -e PORT=80 "$APP" >/dev/null
    port=$(docker port "$app" 80/tcp | head -1 | sed 's/.*://')
    curl_200 "http://127.0.0.1:$port/gettoken" 120 || die "floor: the app never answered 200"
    echo $(($(now_ms) - t0))
    wait
}

# One chronous run; prints "total_ms apply_ms".
chronous_run() {
    local name=benchapply-$$-$1 dir="$OUT/env-$1" t0 t_apply url ev
    rm -rf "$dir"
    make_env "$dir" "$name"
    ev="$OUT/events-$1.jsonl"
    # shellcheck disable=SC2064
    trap "'$CHRONOUS' --env '$dir' destroy --auto-approve >/dev/null 2>&1 || true" EXIT
    t0=$(now_ms)
    # Stamped without a fork per line (the plan alone is ~2,700 lines), relative ms.
    "$CHRONOUS" --env "$dir" --json apply --auto-approve | while IFS= read -r line; do
        printf '%s\t%s\n' "$(((${EPOCHREALTIME/[.,]/} / 1000) - t0))" "$line"
    done > "$ev"
    t_apply=$(($(now_ms) - t0))
    # The ELB's address is in the state apply recorded (not timed: read while curl would poll).
    local t_out=$(now_ms)
    url="http://$("$CHRONOUS" --env "$dir" output elb_dns)/gettoken"
    t_out=$(($(now_ms) - t_out))
    curl_200 "$url" 120 || die "chronous: $url never answered 200"
    echo "$(($(now_ms) - t0 - t_out)) $t_apply"
    "$CHRONOUS" --env "$dir" destroy --auto-approve >/dev/null
    [[ -z $(labelled "$name") ]] || die "chronous: objects of $name left after destroy"
}

# Where the apply's time went: the slowest steps and the rollout, from the stamped events.
explain() {
    python3 - "$1" <<'PY'
import json, sys
steps, marks, first = [], [], None
for line in open(sys.argv[1]):
    at, _, doc = line.partition("\t")
    try:
        e = json.loads(doc)
    except ValueError:
        continue
    if not isinstance(e, dict):
        continue
    ev = e.get("event")
    if ev == "started" and first is None:
        first = int(at)
        marks.append((first, "first step started (after refresh + plan)"))
    elif ev == "finished":
        steps.append((float(e.get("seconds", 0)), int(at), e["address"]))
    elif ev in ("rollout", "summary"):
        marks.append((int(at), f"{ev} ({e.get('seconds', 0):.2f} s)"))
steps.sort(reverse=True)
for s, at, a in steps[:4]:
    marks.append((at, f"{a} finished, took {s:.2f} s"))
for at, what in sorted(marks):
    print(f"    {at/1000:6.2f} s  {what}")
PY
}

echo "bench-apply: $RUNS runs, time scale $CHRONOUS_SIM_TIME_SCALE, $CHRONOUS ($BENCH_PROFILE)"
echo "health checks' minimum: $healthy x $interval s / $CHRONOUS_SIM_TIME_SCALE = $(secs "$HC_MS") s"
echo "load: $(uptime | sed 's/.*load average: //')"
for run in $(seq 1 "$RUNS"); do
    f=$(floor_run "$run")
    read -r c a < <(chronous_run "$run")
    floor=$((f + HC_MS))
    ratio=$(python3 -c "print(f'{$c / $floor:.2f}')")
    echo "run $run: chronous $(secs "$c") s (apply returned at $(secs "$a") s) | floor $(secs "$floor") s (docker $(secs "$f") s + checks $(secs "$HC_MS") s) | ratio ${ratio}x | load $(cut -d' ' -f1-3 /proc/loadavg)"
    explain "$OUT/events-$run.jsonl"
done
