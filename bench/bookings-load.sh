#!/usr/bin/env bash
# Load test: `createBooking` over HTTP on PostgreSQL, 64 concurrent students, half of them contending.
# Usage: bench/bookings-load.sh [seconds]   (whole seconds, default 30; needs psql and curl)
# Builds the release binary and the load generator (examples/booking_load.rs), creates a fresh
# database, gives MENTORS mentors (in 8 time zones) availability every day 06:00-22:00 in their zone
# (minimum notice 0, horizon 60 days, buffer 0), mints 64 student tokens and runs the generator:
# 32 students all book the same 8 mentor/slot combinations (2 mentors x 4 slots; after the first
# booking of each, the answer is CONFLICT), 32 book distinct free slots on the other mentors.
# Every request is ONCE_WEEKLY, 60 minutes, `weeks: 4` (WEEKS=1 for single sessions). With weeks: 4 a
# mentor has 256 non-overlapping free slots (16 start days in the 60-day horizon x 16 hours), so the
# default MENTORS is 2 + enough for MAX_RATE (default 2000) bookings/s over the whole run; if the
# uncontended half still runs out of slots, the run fails. CONFLICT counts as a correct answer; any
# other error fails the run. Server logs go to a file; the script reports how many ERROR lines it
# wrote. Prints requests, bookings created, conflicts, errors, requests/s, bookings/s and latency
# p50/p90/p99/max (all, contending, uncontended; the generator runs on one thread), then checks in
# PostgreSQL that no two live sessions of a mentor overlap and that the database holds exactly the
# bookings and sessions the generator saw created. Everything stays on 127.0.0.1; the
# server, PostgreSQL and the generator share the machine's cores.
# BENCH_SSLMODE (default disable) sets the PostgreSQL TLS mode.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-30}"
PORT="${PORT:-18182}"
WEEKS="${WEEKS:-4}"
# Start days 1..58 whose offset modulo the booking's span (7 x WEEKS days) falls in its first week.
SLOTS_PER_MENTOR=0; for d in $(seq 0 57); do if (( d % (7 * WEEKS) < 7 )); then SLOTS_PER_MENTOR=$((SLOTS_PER_MENTOR + 16)); fi; done
MENTORS="${MENTORS:-$(( 2 + (DURATION * ${MAX_RATE:-2000} + SLOTS_PER_MENTOR - 1) / SLOTS_PER_MENTOR ))}"
STUDENTS=64
BASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
DB="mentor_bench_bookings_$$"
SERVER="${BASE_URL%/*}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mentor-target}"

cargo build --release -q --bin mentor-scheduler --example booking_load
BIN="$CARGO_TARGET_DIR/release/mentor-scheduler"
LOAD="$CARGO_TARGET_DIR/release/examples/booking_load"
psql "$BASE_URL" -qc "CREATE DATABASE $DB"
WORK=$(mktemp -d)
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  psql "$BASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export DATABASE_URL="$SERVER/$DB?sslmode=${BENCH_SSLMODE:-disable}" BIND_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK" JWT_SECRET=bench-secret RUST_LOG=warn DB_MAX_CONNECTIONS=32
"$BIN" migrate
"$BIN" serve > "$WORK/server.log" 2>&1 & PID=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

gql() { curl -sf "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' -H "authorization: Bearer $1" -d "$2"; }
ZONES=(America/New_York Europe/London Asia/Tokyo Australia/Sydney America/Los_Angeles Asia/Kolkata Europe/Berlin America/Sao_Paulo)
BLOCKS=$(for d in MONDAY TUESDAY WEDNESDAY THURSDAY FRIDAY SATURDAY SUNDAY; do printf '{"weekday":"%s","start":"06:00","end":"22:00"},' $d; done)
for i in $(seq 1 "$MENTORS"); do
  ID=$(printf 'clbenchmentor%012d' "$i"); TZ_NAME=${ZONES[$(( (i - 1) % ${#ZONES[@]} ))]}
  TOKEN=$("$BIN" token --sub "$ID" --role mentor --tz "$TZ_NAME" --ttl-hours 2)
  OUT=$(gql "$TOKEN" "{\"query\":\"mutation(\$i: WeeklyScheduleInput!) { setWeeklySchedule(input: \$i) { mentorId } }\",\"variables\":{\"i\":{\"timeZone\":\"$TZ_NAME\",\"minimumNoticeMinutes\":0,\"horizonDays\":60,\"bufferMinutes\":0,\"blocks\":[${BLOCKS%,}]}}}")
  case "$OUT" in *'"errors"'*|'') echo "FAILED: setWeeklySchedule for $ID: $OUT"; exit 1;; esac
  echo "$ID $TZ_NAME" >> "$WORK/mentors"
done
for i in $(seq 1 "$STUDENTS"); do
  "$BIN" token --sub "$(printf 'clbenchstudent%011d' "$i")" --role student --tz Europe/London --ttl-hours 2 >> "$WORK/students"
done

set +e
BENCH_URL="http://127.0.0.1:$PORT/graphql" BENCH_DURATION="$DURATION" BENCH_CONCURRENCY="$STUDENTS" \
  BENCH_MENTORS_FILE="$WORK/mentors" BENCH_STUDENTS_FILE="$WORK/students" BENCH_WEEKS="$WEEKS" \
  BENCH_HORIZON_DAYS=60 BENCH_HOT_MENTORS=2 BENCH_HOT_SLOTS=4 "$LOAD" | tee "$WORK/load.out"
STATUS=${PIPESTATUS[0]}
set -e

q() { psql "$SERVER/$DB" -qAtc "$1"; }
OVERLAPS=$(q "SELECT count(*) FROM sessions a JOIN sessions b ON a.mentor_id=b.mentor_id AND a.id<b.id AND a.status<>'CANCELLED' AND b.status<>'CANCELLED' AND a.start_at<b.end_at AND b.start_at<a.end_at")
BOOKINGS=$(q "SELECT count(*) FROM bookings")
SESSIONS=$(q "SELECT count(*) FROM sessions")
CREATED=$(sed -n 's/^RESULT .*created=\([0-9]*\).*/\1/p' "$WORK/load.out")
echo "server log: $(grep -c ERROR "$WORK/server.log" || true) ERROR lines, of which $(grep ERROR "$WORK/server.log" | grep -vc 'cannot be booked\|taken by another booking' || true) not about a CONFLICT"
grep ERROR "$WORK/server.log" | grep -v 'cannot be booked\|taken by another booking' | head -5 || true
echo "database: $BOOKINGS bookings, $SESSIONS sessions, $OVERLAPS overlapping session pairs"
[ "$STATUS" -eq 0 ] || { echo "FAILED: the load generator exited with status $STATUS"; exit 1; }
[ "$OVERLAPS" -eq 0 ] || { echo "FAILED: $OVERLAPS pairs of live sessions of one mentor overlap"; exit 1; }
[ "$BOOKINGS" -eq "$CREATED" ] && [ "$SESSIONS" -eq $((CREATED * WEEKS)) ] \
  || { echo "FAILED: the generator saw $CREATED bookings created ($((CREATED * WEEKS)) sessions)"; exit 1; }
echo "OK"
