#!/usr/bin/env bash
# Load test: `availableSlots` over HTTP on PostgreSQL, 64 concurrent clients, with wrk.
# Usage: bench/slots-load.sh [seconds]   (needs wrk: apt-get install wrk)
# Builds the release binary, creates a fresh database, seeds a busy mentor (3 blocks a day, 500 busy
# intervals), runs the server, then wrk with latency percentiles. Everything stays on 127.0.0.1.
# BENCH_SSLMODE (default disable) sets the PostgreSQL TLS mode; PROFILE=1 also records a perf profile
# of the server to /tmp/perf.data.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-30}"
PORT="${PORT:-18181}"
BASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
DB="mentor_bench_$$"
SERVER="${BASE_URL%/*}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mentor-target}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

cargo build --release -q
BIN="$CARGO_TARGET_DIR/release/mentor-scheduler"
psql "$BASE_URL" -qc "CREATE DATABASE $DB"
WORK=$(mktemp -d)
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  psql "$BASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# One student token drives all the load: the per-caller rate limit is off (the engine is what is measured).
export DATABASE_URL="$SERVER/$DB?sslmode=${BENCH_SSLMODE:-disable}" BIND_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK" JWT_SECRET=bench-secret RUST_LOG=warn DB_MAX_CONNECTIONS=32 RATE_LIMIT_PER_SECOND=0
"$BIN" migrate
MENTOR=clbenchmentor000000000001
MENTOR_TOKEN=$("$BIN" token --sub $MENTOR --role mentor --tz America/New_York --ttl-hours 2)
STUDENT_TOKEN=$("$BIN" token --sub clbenchstudent00000000001 --role student --tz Europe/London --ttl-hours 2)
"$BIN" serve & PID=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

gql() { curl -sf "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' -H "authorization: Bearer $1" -d "$2"; }
BLOCKS=$(for d in MONDAY TUESDAY WEDNESDAY THURSDAY FRIDAY SATURDAY SUNDAY; do
  printf '{"weekday":"%s","start":"08:00","end":"11:00"},{"weekday":"%s","start":"12:00","end":"15:00"},{"weekday":"%s","start":"16:00","end":"20:00"},' $d $d $d
done)
gql "$MENTOR_TOKEN" "{\"query\":\"mutation(\$i: WeeklyScheduleInput!) { setWeeklySchedule(input: \$i) { mentorId } }\",\"variables\":{\"i\":{\"timeZone\":\"America/New_York\",\"minimumNoticeMinutes\":0,\"horizonDays\":60,\"blocks\":[${BLOCKS%,}]}}}" >/dev/null
# 500 busy intervals of 15 to 90 minutes at reproducible pseudo-random starts over the next 4 weeks.
psql "$SERVER/$DB" -qc "SELECT setseed(0.42);
  INSERT INTO busy_blocks (id, mentor_id, start_at, end_at, source, created_at)
  SELECT 'busy-' || i, '$MENTOR', s, s + (15 * (1 + floor(random() * 6))) * interval '1 minute', 'bench', now()
  FROM (SELECT i, date_trunc('hour', now()) + floor(random() * 28 * 24 * 4) * interval '15 minutes' AS s
        FROM generate_series(1, 500) AS i) AS r"

FROM=$(date -u +%Y-%m-%dT00:00:00Z); TO=$(date -u -d '+28 days' +%Y-%m-%dT00:00:00Z)
BODY="{\"query\":\"query { availableSlots(mentorId: \\\"$MENTOR\\\", from: \\\"$FROM\\\", to: \\\"$TO\\\", durationMinutes: 60) { start end } }\"}"
SLOTS=$(gql "$STUDENT_TOKEN" "$BODY" | grep -o '"start"' | wc -l || true)
echo "one request returns $SLOTS slots over 28 days"
[ "$SLOTS" -gt 0 ] || { echo "FAILED: the query returned no slots"; exit 1; }
cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $STUDENT_TOKEN"
wrk.body = [[$BODY]]
LUA
if [ -n "${PROFILE:-}" ]; then
  perf record -F 999 -g -p "$PID" -o /tmp/perf.data -- sleep 8 & PERF=$!
  wrk -t2 -c64 -d8s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/graphql" >/dev/null
  wait "$PERF"
fi
wrk -t2 -c64 -d"${DURATION}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$PORT/graphql" | tee "$WORK/wrk.out"
if grep -q "Non-2xx" "$WORK/wrk.out"; then echo "FAILED: some requests were not answered with 2xx"; exit 1; fi
