#!/usr/bin/env bash
# Load test: one CalDAV polling round with nothing changed, against a real Radicale, on PostgreSQL.
# Usage: bench/caldav-poll.sh [mentors [events]]
#   (defaults 1000 mentors, 20 events each; also MENTORS, EVENTS; needs psql and Radicale:
#   pip install radicale==3.9.0)
# Builds the release binary and the load generator (examples/caldav_poll.rs), creates a fresh
# database, and runs the generator: it writes Radicale's storage (one account and calendar per
# mentor, a quarter of the events weekly), starts Radicale behind a counting proxy, starts the
# server (JOB_WORKERS job workers, default 8), connects every mentor with connectCalDav
# (CONCURRENCY at a time, default 16), waits for every first read, then for the next poll of every
# connection (the default frequency, five minutes), and reports that round's requests to Radicale
# (per mentor and by method), the CPU seconds of the server, PostgreSQL and Radicale meanwhile, and
# the requests' times at the proxy. Exit status 0 when all worked with at most one request per
# calendar, 3 when only that was missed, 1 otherwise. Other knobs: PORT, RADICALE_PORT, PROXY_PORT,
# BENCH_SSLMODE (default disable), BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test), KEEP_LOG=1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/server-log.sh
MENTORS="${1:-${MENTORS:-1000}}"
EVENTS="${2:-${EVENTS:-20}}"
PORT="${PORT:-18186}"
BASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
DB="mentor_bench_caldav_$$"
SERVER="${BASE_URL%/*}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mentor-target}"

cargo build --release -q --bin mentor-scheduler --example caldav_poll
BIN="$CARGO_TARGET_DIR/release/mentor-scheduler"
LOG=$(mktemp /tmp/mentor-caldav-bench.XXXXXX.log)
psql "$BASE_URL" -qc "CREATE DATABASE $DB"
cleanup() {
  psql "$BASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  [ "${KEEP_LOG:-0}" = 1 ] && echo "server log: $LOG" || rm -f "$LOG"
}
trap cleanup EXIT

DATABASE_URL="$SERVER/$DB?sslmode=${BENCH_SSLMODE:-disable}"
set +e
BENCH_BIN="$BIN" BENCH_DATABASE_URL="$DATABASE_URL" BENCH_LOG="$LOG" BENCH_PORT="$PORT" \
  BENCH_RADICALE_PORT="${RADICALE_PORT:-18187}" BENCH_PROXY_PORT="${PROXY_PORT:-18188}" \
  BENCH_MENTORS="$MENTORS" BENCH_EVENTS="$EVENTS" BENCH_CONCURRENCY="${CONCURRENCY:-16}" \
  BENCH_JOB_WORKERS="${JOB_WORKERS:-8}" \
  "$CARGO_TARGET_DIR/release/examples/caldav_poll"
STATUS=$?
set -e
summarize_server_log "$LOG"
exit $STATUS
