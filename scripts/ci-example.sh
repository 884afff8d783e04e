#!/usr/bin/env bash
# A CI job on the simulator: bring the environment up, run a test suite
# against the load balancer's URL and the database through the bastion,
# rehearse the deployment under load, tear everything down. Each step's exit
# code is the job's when it fails (see README.md, "In CI").
#
#   bash scripts/ci-example.sh [ENV_DIR]          (default: the seed, see below)
#
# Environment:
#   CHRONOUS              the chronous binary (default: chronous on PATH, else the debug build)
#   CHRONOUS_DB_PASSWORD  the database password (default: a generated one)
#   TEST_CMD              your test suite; it gets ELB_URL and DATABASE_URL (+ MYSQL_PWD)
#                         (default: a smoke test with curl and the mariadb client)
#   MAX_FAILED_REQUESTS   fail the job when the rehearsal under load loses more
#                         requests than this (default: report only)
set -euo pipefail
cd "$(dirname "$0")/.."
ENV_DIR="${1:-fixtures/seed}"
CHRONOUS="${CHRONOUS:-$(command -v chronous || echo "${CARGO_TARGET_DIR:-$HOME/.cache/chronous/target}/debug/chronous")}"
export CHRONOUS_SIM_TIME_SCALE="${CHRONOUS_SIM_TIME_SCALE:-30}"
if [ -z "${CHRONOUS_DB_PASSWORD:-}" ]; then
  CHRONOUS_DB_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  export CHRONOUS_DB_PASSWORD
fi
c() { "$CHRONOUS" --env "$ENV_DIR" "$@"; }
T0=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - T0))" "$*"; }
work=$(mktemp -d)

# The simulator enforces the security groups as AWS does, and the seed's
# database admits only the container instances and the private subnets, not
# the bastion this job tunnels through. By default the job runs on a copy of
# the seed whose sg_rds also admits the bastion on 3306, as a team's CI
# environment would (`chronous check reach bastion database 3306` says why).
if [ -z "${1:-}" ]; then
  mkdir "$work/seed" && cp fixtures/seed/chronous.toml fixtures/seed/aws-ssh.pub "$work/seed/"
  sed -i -e "s#\"\.\./backup/#\"$PWD/fixtures/backup/#" \
    -e '/source = "tier:private", description = "MySQL from the private subnets" },/a\  { protocol = "tcp", port = 3306, source = "bastion", description = "MySQL from the bastion (the CI job'"'"'s tunnel)" },' \
    "$work/seed/chronous.toml"
  ENV_DIR="$work/seed"
fi

# Teardown runs whatever happened; a failed teardown fails the job too.
teardown() {
  rc=$?
  [ -n "${TUNNEL_PID:-}" ] && kill -TERM "$TUNNEL_PID" 2>/dev/null && wait "$TUNNEL_PID" 2>/dev/null
  step "destroy (exit 0: nothing left; 1: something could not be removed)"
  c destroy --auto-approve || rc=$?
  rm -rf "$work"
  step "done, exit $rc"
  exit "$rc"
}
trap teardown EXIT

step "validate (3: the environment file is invalid, nothing ran)"
c validate

step "apply (1: a step failed, what completed is recorded; 4: locked by another command)"
c apply --auto-approve

step "wait until healthy behind the load balancer (1: not within 300 s)"
c status --wait-healthy --timeout 300
ELB_URL="http://$(c output elb_dns)"

step "tunnel to the database through the bastion (1: no bastion or database reachable)"
"$CHRONOUS" --env "$ENV_DIR" --json tunnel rds > "$work/tunnel.json" &   # not through c(): $! is chronous
TUNNEL_PID=$!
# The first line is written once the port accepts; the command exits 1 if it cannot.
until [ -s "$work/tunnel.json" ]; do
  kill -0 "$TUNNEL_PID" 2>/dev/null || { wait "$TUNNEL_PID"; exit 1; }
  sleep 0.1
done
DATABASE_URL=$(head -n1 "$work/tunnel.json" | jq -r .url)
export ELB_URL DATABASE_URL MYSQL_PWD="$CHRONOUS_DB_PASSWORD"
echo "ELB_URL=$ELB_URL DATABASE_URL=$DATABASE_URL"

step "test suite (its own exit code)"
if [ -n "${TEST_CMD:-}" ]; then
  bash -c "$TEST_CMD"
else
  curl -fsS "$ELB_URL/gettoken" | jq -e '.token | length == 64' >/dev/null
  # A query through the tunnel: the mariadb client in a container on the host's
  # network (127.0.0.1 is this machine's loopback), labelled so destroy sweeps it.
  hp=${DATABASE_URL#mysql://*@}; hp=${hp%%/*}
  user=${DATABASE_URL#mysql://}; user=${user%%@*}
  db=${DATABASE_URL##*/}
  name=$(awk -F'"' '/^\[environment\]/{e=1} e && /^name *=/{print $2; exit}' "$ENV_DIR/chronous.toml")
  rows=$(docker run --rm --network host --label "chronous.environment=$name" \
    -e MYSQL_PWD chronous/debian-base:bookworm \
    mariadb --batch --skip-column-names -h "${hp%:*}" -P "${hp#*:}" -u "$user" -D "$db" \
    -e 'SELECT COUNT(*) FROM paymentsdb.payments')
  echo "payments through the tunnel: $rows"
  [ "$rows" -gt 0 ]
  # One command through the bastion; its exit code is chronous's.
  c ssh -- getent hosts "$(c output rds_endpoint | cut -d: -f1)" >/dev/null
fi
kill -TERM "$TUNNEL_PID"; wait "$TUNNEL_PID"; TUNNEL_PID=

step "rehearse the deployment under load (1: the rollout failed or timed out)"
c --json rehearse deploy --runtime docker > "$work/rehearsal.json"
failed=$(jq -r 'select(.event == "rehearsal") | .measured.failed' "$work/rehearsal.json")
jq -r 'select(.event == "rehearsal") | "requests: \(.measured.sent) sent, \(.measured.failed) failed; downtime \(.measured.downtime_s) s measured, \(.predicted_downtime_scaled_s) s predicted; rollout \(.rollout_seconds) s"' "$work/rehearsal.json"
if [ -n "${MAX_FAILED_REQUESTS:-}" ] && [ "$failed" -gt "$MAX_FAILED_REQUESTS" ]; then
  echo "the rehearsal lost $failed requests (more than MAX_FAILED_REQUESTS=$MAX_FAILED_REQUESTS)" >&2
  exit 1
fi
