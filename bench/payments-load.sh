#!/usr/bin/env bash
# Load test: payments against the fake Stripe of the tests, on PostgreSQL.
# Usage: bench/payments-load.sh [bookings [mentors [renewals]]]
#   (defaults 1000 bookings over 100 mentors, 2 renewals each; also BOOKINGS, MENTORS, RENEWALS;
#   needs psql)
# Builds the release binary and the load generator (examples/payments_load.rs), creates a fresh
# database, and runs the generator: it starts the fake Stripe in its own process, starts the server
# pointed at it (JOB_WORKERS job workers, default 8), times createBooking to its checkout URL for
# BOOKINGS students (CONCURRENCY at a time, default 16; p50/p90/p99/max), pays every checkout and
# renews each subscription RENEWALS times at the fake, then delivers every signed event to
# /webhooks/stripe CONCURRENCY at a time and reports events applied per second (target 500,
# TARGET_PER_SECOND). Exit status 0 when all worked and the target was met, 3 when only the target
# was missed, 1 otherwise. Other knobs: PORT, BENCH_SSLMODE (default disable), BENCH_DATABASE_URL
# (default postgres://postgres@127.0.0.1:5432/test), KEEP_LOG=1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/server-log.sh
BOOKINGS="${1:-${BOOKINGS:-1000}}"
MENTORS="${2:-${MENTORS:-100}}"
RENEWALS="${3:-${RENEWALS:-2}}"
PORT="${PORT:-18185}"
BASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
DB="mentor_bench_payments_$$"
SERVER="${BASE_URL%/*}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mentor-target}"

cargo build --release -q --bin mentor-scheduler --example payments_load
BIN="$CARGO_TARGET_DIR/release/mentor-scheduler"
LOG=$(mktemp /tmp/mentor-payments-bench.XXXXXX.log)
psql "$BASE_URL" -qc "CREATE DATABASE $DB"
cleanup() {
  psql "$BASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  [ "${KEEP_LOG:-0}" = 1 ] && echo "server log: $LOG" || rm -f "$LOG"
}
trap cleanup EXIT

DATABASE_URL="$SERVER/$DB?sslmode=${BENCH_SSLMODE:-disable}"
set +e
BENCH_BIN="$BIN" BENCH_DATABASE_URL="$DATABASE_URL" BENCH_LOG="$LOG" BENCH_PORT="$PORT" \
  BENCH_BOOKINGS="$BOOKINGS" BENCH_MENTORS="$MENTORS" BENCH_RENEWALS="$RENEWALS" \
  BENCH_CONCURRENCY="${CONCURRENCY:-16}" BENCH_JOB_WORKERS="${JOB_WORKERS:-8}" \
  BENCH_TARGET_PER_SECOND="${TARGET_PER_SECOND:-500}" \
  "$CARGO_TARGET_DIR/release/examples/payments_load"
STATUS=$?
set -e
summarize_server_log "$LOG"
exit $STATUS
