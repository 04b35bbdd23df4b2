#!/usr/bin/env bash
# Load test: Google Calendar sync against the fake Google of the tests, on PostgreSQL.
# Usage: bench/calendar-sync.sh [mentors [events [samples]]]
#   (defaults 1000 mentors, 200 events each, 100 push samples; also MENTORS, EVENTS, SAMPLES;
#   needs psql)
# Builds the release binary and the load generator (examples/calendar_load.rs), creates a fresh
# database, and runs the generator: it starts the fake Google in its own process (one account per
# consent, EVENTS events on each primary calendar, pages of 250), starts the server pointed at it
# (JOB_WORKERS job workers, default 8; the job runners poll every JOB_POLL_INTERVAL_MS, default
# 500), connects MENTORS mentors CONCURRENCY at a time (default 16) through the real OAuth flow and
# times until every first sync is done with a live push channel; reports requests per mentor at
# Google; then, for SAMPLES mentors in turn, adds an event with its push and times until the slot it
# hides is gone from availableSlots (p50/p90/p99/max; target p99 < 1 s, TARGET_P99_MS); and the
# server's peak RSS. Exit status 0 when all worked and the target was met, 3 when only the target
# was missed, 1 otherwise. Everything stays on 127.0.0.1. Other knobs: PORT, BENCH_SSLMODE (default
# disable), BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), KEEP_LOG=1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/server-log.sh
MENTORS="${1:-${MENTORS:-1000}}"
EVENTS="${2:-${EVENTS:-200}}"
SAMPLES="${3:-${SAMPLES:-100}}"
PORT="${PORT:-18184}"
BASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
DB="mentor_bench_calendar_$$"
SERVER="${BASE_URL%/*}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mentor-target}"

cargo build --release -q --bin mentor-scheduler --example calendar_load
BIN="$CARGO_TARGET_DIR/release/mentor-scheduler"
LOG=$(mktemp /tmp/mentor-calendar-bench.XXXXXX.log)
psql "$BASE_URL" -qc "CREATE DATABASE $DB"
cleanup() {
  psql "$BASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  [ "${KEEP_LOG:-0}" = 1 ] && echo "server log: $LOG" || rm -f "$LOG"
}
trap cleanup EXIT

# The server migrates the fresh database when it starts.
DATABASE_URL="$SERVER/$DB?sslmode=${BENCH_SSLMODE:-disable}"
set +e
BENCH_BIN="$BIN" BENCH_DATABASE_URL="$DATABASE_URL" BENCH_LOG="$LOG" BENCH_PORT="$PORT" \
  BENCH_MENTORS="$MENTORS" BENCH_EVENTS="$EVENTS" BENCH_SAMPLES="$SAMPLES" \
  BENCH_CONCURRENCY="${CONCURRENCY:-16}" BENCH_JOB_WORKERS="${JOB_WORKERS:-8}" \
  BENCH_TARGET_P99_MS="${TARGET_P99_MS:-1000}" \
  "$CARGO_TARGET_DIR/release/examples/calendar_load"
STATUS=$?
set -e
summarize_server_log "$LOG"
exit $STATUS
