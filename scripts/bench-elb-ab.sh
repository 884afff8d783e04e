#!/usr/bin/env bash
# Cross-check of the ELB bench with ApacheBench (Debian: apache2-utils):
# `ab -n N -c C` with and without keep-alive (-k), direct vs through the ELB,
# alternating, RUNS times; prints req/s, p50 and p99 (ab's percentiles).
#
#   bash scripts/bench-elb-ab.sh fast          # the bench's fast backend + the ELB in front of it
#   bash scripts/bench-elb-ab.sh seed          # the issue's measurement: a copy of the seed up
#                                              # (as scripts/up.sh, time scale 30), its task's
#                                              # published port vs the ELB, /gettoken; destroyed after
#   bash scripts/bench-elb-ab.sh DIRECT_URL ELB_URL
# `fast` uses the elb_proxy bench executable (BENCH_EXE, else built with cargo bench --no-run;
# BENCH_PROXY_EXE for another build of the proxy, as in the bench).
# Environment: AB_N (2000), AB_C (4), RUNS (3).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${AB_N:-2000} C=${AB_C:-4} RUNS=${RUNS:-3}
command -v ab >/dev/null || { echo "ab not found: apt-get install apache2-utils" >&2; exit 1; }

if [[ ${1:-} == fast ]]; then
    exe=${BENCH_EXE:-$(cd "$ROOT" && cargo bench -q -p chronous-sim --bench elb_proxy --no-run --message-format=json 2>/dev/null |
        jq -r 'select(.executable != null and .target.name == "elb_proxy") | .executable' | tail -1)}
    [[ -x $exe ]] || { echo "no elb_proxy bench executable" >&2; exit 1; }
    coproc BACKEND { exec "$exe" backend; }
    read -r baddr <&"${BACKEND[0]}"
    coproc PROXY { exec "${BENCH_PROXY_EXE:-$exe}" proxy "$baddr"; }
    read -r paddr <&"${PROXY[0]}"
    trap 'kill $BACKEND_PID $PROXY_PID 2>/dev/null || true' EXIT
    DIRECT="http://$baddr/gettoken" ELB="http://$paddr/gettoken"
elif [[ ${1:-} == seed ]]; then
    source "$ROOT/scripts/bench-lib.sh"
    build_chronous
    db_password
    NAME=benchab-$$ DIR=$ROOT/target/bench-ab/benchab-$$
    make_env "$DIR" "$NAME"
    trap '"$CHRONOUS" --env "$DIR" destroy --auto-approve >/dev/null 2>&1' EXIT
    "$CHRONOUS" --env "$DIR" apply --auto-approve >/dev/null 2>&1
    "$CHRONOUS" --env "$DIR" status --wait-healthy --timeout 300 >/dev/null
    task=$(docker ps -q --filter "label=chronous.environment=$NAME" --filter label=chronous.task-id | head -1)
    DIRECT="http://$(docker port "$task" 80/tcp | head -1)/gettoken"
    ELB="http://$("$CHRONOUS" --env "$DIR" output elb_dns)/gettoken"
else
    DIRECT=${1:?DIRECT_URL} ELB=${2:?ELB_URL}
fi

one() { # one ab run: "req/s p50 p99"
    ab -q "$@" 2>/dev/null | awk '/^Requests per second/ {r=$4} /^  50%/ {p50=$2} /^  99%/ {p99=$2}
        /^Failed requests/ {f=$3} END {printf "%8.0f req/s  p50 %3s ms  p99 %3s ms  failed %s\n", r, p50, p99, f}'
}
echo "ab -n $N -c $C: direct $DIRECT, elb $ELB; load $(cut -d' ' -f1-3 /proc/loadavg)"
for k in "" -k; do
    for run in $(seq 1 "$RUNS"); do
        printf '%-4s run %d direct %s\n' "${k:-no-k}" "$run" "$(one -n "$N" -c "$C" $k "$DIRECT")"
        printf '%-4s run %d elb    %s\n' "${k:-no-k}" "$run" "$(one -n "$N" -c "$C" $k "$ELB")"
    done
done
