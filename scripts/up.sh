#!/usr/bin/env bash
# Set up a fresh machine and bring the seed environment up in the simulator.
# Prints the URL of the simulated load balancer at the end.
# Usage: bash scripts/up.sh [ENV_DIR]   (default: fixtures/seed)
set -euo pipefail
cd "$(dirname "$0")/.."
ENV_DIR="${1:-fixtures/seed}"
CACHE="${CHRONOUS_CACHE:-$HOME/.cache/chronous}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
mkdir -p "$CACHE"

step() { printf '\n==> %s\n' "$*"; }

step "building chronous"
cargo build -q -p chronous-cli
CHRONOUS="$CARGO_TARGET_DIR/debug/chronous"

step "building the images the simulator needs (skips what exists)"
bash images/build.sh

# The database password is a run-time secret: from the environment, or a
# generated one kept (mode 0600) outside the repository.
if [ -z "${CHRONOUS_DB_PASSWORD:-}" ]; then
  pwfile="$CACHE/seed-db-password"
  if [ ! -s "$pwfile" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$pwfile")
  fi
  export CHRONOUS_DB_PASSWORD="$(cat "$pwfile")"
  echo "database password: generated, kept in $pwfile"
fi

# Demos run the health checks 30 times faster than AWS (shown in `chronous status`).
export CHRONOUS_SIM_TIME_SCALE="${CHRONOUS_SIM_TIME_SCALE:-30}"

step "applying $ENV_DIR in the simulator"
"$CHRONOUS" --env "$ENV_DIR" apply --auto-approve

step "waiting for the service to be healthy behind the load balancer"
"$CHRONOUS" --env "$ENV_DIR" status --wait-healthy --timeout 300

url="http://$("$CHRONOUS" --env "$ENV_DIR" output elb_dns)"
step "up"
echo "The seed environment runs in the simulator. Try:"
echo "  curl $url/gettoken"
echo "  $CHRONOUS --env $ENV_DIR status      # tasks, health, events"
echo "  $CHRONOUS --env $ENV_DIR logs -f     # the service's log streams"
echo "  $CHRONOUS --env $ENV_DIR destroy     # remove it all"
echo "$url"
