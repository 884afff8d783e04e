#!/usr/bin/env bash
# Consecutive up / test / destroy cycles of the seed environment in the
# simulator. Usage: bash scripts/bench-cycles.sh [CYCLES]   (default 20)
#
# Each cycle, on a copy of the seed renamed benchcycle-<pid> (the same name
# every cycle, so leftovers of one cycle would collide with the next):
#   up       what scripts/up.sh runs after its build: chronous apply --auto-approve,
#            then chronous status --wait-healthy --timeout 300
#   test     GET /gettoken through the ELB: HTTP 200 with a token in the JSON
#   destroy  chronous destroy --auto-approve
#   check    no container, volume or network labelled chronous.environment=NAME
#            is left, and the environment's controller and ELB processes have exited (within 5 s)
# A cycle fails if any step fails; the script goes on and exits 1 at the end
# if any did. Per-cycle timings and a summary are printed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
CYCLES=${1:-20}
OUT=${BENCH_OUT:-$ROOT/target/bench-cycles}
NAME=benchcycle-$$
DIR=$OUT/$NAME
mkdir -p "$OUT"
set -e
build_chronous
db_password
set +e
make_env "$DIR" "$NAME"
trap '"$CHRONOUS" --env "$DIR" destroy --auto-approve >/dev/null 2>&1' EXIT

failures=0
echo "bench-cycles: $CYCLES cycles of $NAME, time scale $CHRONOUS_SIM_TIME_SCALE, $CHRONOUS ($BENCH_PROFILE)"
printf '%-5s %-7s %-7s %-7s %-6s %-8s %s\n' cycle up_s test_s down_s left result load
for i in $(seq 1 "$CYCLES"); do
    log="$OUT/cycle-$i.log"
    result=ok
    t0=$(now_ms)
    if ! { "$CHRONOUS" --env "$DIR" apply --auto-approve &&
        "$CHRONOUS" --env "$DIR" status --wait-healthy --timeout 300; } > "$log" 2>&1; then
        result="up-failed"
    fi
    t1=$(now_ms)
    if [[ $result == ok ]]; then
        url="http://$("$CHRONOUS" --env "$DIR" output elb_dns)/gettoken"
        body=$(curl -s -w '\n%{http_code}' --max-time 5 "$url")
        code=${body##*$'\n'}
        if [[ $code != 200 ]] || ! jq -e '.token' <<<"${body%$'\n'*}" >/dev/null 2>&1; then
            result="test-failed($code)"
        fi
        echo "test: $code ${body%$'\n'*}" >> "$log"
    fi
    t2=$(now_ms)
    pid=$(cat "$DIR/.chronous/controller.pid" 2>/dev/null || true)
    elb_pid=$(cat "$DIR/.chronous/elb.pid" 2>/dev/null || true)
    if ! "$CHRONOUS" --env "$DIR" destroy --auto-approve >> "$log" 2>&1; then
        [[ $result == ok ]] && result="destroy-failed"
    fi
    t3=$(now_ms)
    left=$(labelled "$NAME" | wc -l)
    if ((left > 0)); then
        labelled "$NAME" >> "$log"
        [[ $result == ok ]] && result="left-objects"
    fi
    # destroy stops the controller, then the ELB's process; they have 5 s to exit.
    for p in $pid $elb_pid; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$p" 2>/dev/null; then
            [[ $result == ok ]] && result="process-left($p)"
        fi
    done
    [[ $result == ok ]] || failures=$((failures + 1))
    printf '%-5s %-7s %-7s %-7s %-6s %-8s %s\n' "$i" "$(secs $((t1 - t0)))" "$(secs $((t2 - t1)))" \
        "$(secs $((t3 - t2)))" "$left" "$result" "$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "$i $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $left $result" >> "$OUT/cycles-$$.txt"
done
python3 - "$OUT/cycles-$$.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for k, name in ((1, "up"), (2, "test"), (3, "destroy")):
    v = sorted(int(r[k]) / 1000 for r in rows)
    print(f"{name:<8} median {statistics.median(v):6.2f} s  min {v[0]:6.2f} s  max {v[-1]:6.2f} s")
print(f"failures {sum(r[5] != 'ok' for r in rows)} of {len(rows)}; labelled objects left {sum(int(r[4]) for r in rows)}")
PY
exit $((failures > 0))
