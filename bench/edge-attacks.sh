#!/usr/bin/env bash
# Load test: the edge attacks of the issue, all at once, against a release build on PostgreSQL, while a
# normal client measures `availableSlots` latency.
# Usage: bench/edge-attacks.sh [attack-seconds [rate [quiet-seconds]]]
#   (defaults 70 s of attack, 100 requests/s, 20 s quiet; also ATTACK, RATE, QUIET; needs psql and curl)
# Builds the release binary and the generator (examples/edge_attacks.rs), creates a fresh database
# (mentor_bench_edge, or BENCH_DB; dropped at the end), starts the server on it (JOB_WORKERS and the
# pool at the server's defaults unless set), and runs the generator, which seeds through the API a
# mentor in New York with a weekly schedule, a student (the attacker) with a 52-week THRICE_WEEKLY
# booking (156 sessions) and STUDENTS normal students, then runs three timed phases:
#   quiet  (QUIET s): the normal client alone: `availableSlots` for the mentor, DAYS days of 60-minute
#          slots, RATE requests/s in an OPEN loop (each request is sent at its planned instant whatever
#          the earlier ones are doing, so a stall is not hidden), the students in turn; latency is the
#          round trip from sending to the end of the answer;
#   attack (ATTACK s): the normal client again, plus at once
#          1. WS_SOCKETS (16) WebSockets of the attacker, each connection_init then WS_SUBSCRIBES (30)
#             `subscription { unreadNotificationCount }` back to back; half close and reopen, half
#             complete and resubscribe, in a loop;
#          2. NESTED_LOOPS (1) closed loops of the nested query on the 52-week booking
#             (booking { sessions { booking { sessions { booking { sessions } } } } });
#          3. ALIAS_LOOPS (1) closed loops taking in turn: 300 aliases of a 90-day availableSlots with
#             15-minute slots, 50 aliases with 1-minute slots (POST and GET), a batch of 50 and one of
#             10 introspection queries without a token, a mutation over GET, a body over MAX_BODY_BYTES;
#          4. slowloris: SLOW_HEADER (300) connections sending a request head a byte at a time,
#             SLOW_SILENT (50) sending nothing, SLOW_BODY (50) sending a head then the body a byte at a
#             time, a byte every SLOW_INTERVAL_MS (1000); each reopened as soon as the server ends it;
#   after  (AFTER s, default 5): the normal client alone again.
# ATTACK_KINDS (default ws,nested,aliases,slowloris) picks which attacks run, to tell their effects
# apart (e.g. ATTACK_KINDS=ws); one kind of the alias loop alone: aliases300, aliases50, aliases50-get,
# introspection50, introspection10, mutation-get, oversize.
# It reports the normal client's p50/p90/p99/max and errors per phase and p99(attack)/p99(quiet), the
# server's RSS (sampled every 100 ms) and VmHWM, CPU per phase (server, PostgreSQL, the generator's two
# threads, the machine), a 5-second timeline (normal p99, slowloris connections open, sockets open,
# RSS, the server's fds), every attack's answers by HTTP status and GraphQL code (COST = refused by
# cost), WebSocket messages and close codes, how long slowloris connections lived and how they ended,
# and after the attack /readyz, a fresh availableSlots on a new connection and a fresh WebSocket of the
# attacker. Then the WARN/ERROR lines of the server log.
# Targets: p99(attack) <= TARGET_RATIO (2) x p99(quiet), server peak RSS < TARGET_RSS_MB (300).
# Exit status: 0 all met; 1 the normal client saw an error, or the server is unhealthy (or gone) after
# the attack; 3 only a target was missed; 2 the set-up failed.
# Server deadlines: the server's own defaults (header 20 s, body 30 s, request 60 s) unless
# HTTP_HEADER_TIMEOUT_SECONDS, HTTP_BODY_TIMEOUT_SECONDS or HTTP_REQUEST_TIMEOUT_SECONDS are set (they
# are passed to the server); the default attack lasts 70 s so that the 60 s deadline is seen.
# Fairness: the server, PostgreSQL and the generator share the machine's cores. The generator runs
# the normal client (with the RSS sampler and a timer probe measuring its own scheduling delay) on one
# thread and every attack on another, and reports the CPU of each, so that a slower normal client can
# be told apart from a starved generator. The normal client's thread runs under SCHED_FIFO at NORMAL_RT
# (10; 0 = off) and nice NORMAL_NICE (-10): it uses a few percent of a core, and so sends on time and
# takes its timestamps when answers arrive rather than when the scheduler gets round to it (the
# report's "send lag" and "timer late" columns show it did); the attacks' thread runs at ATTACK_NICE
# (0). Other work on the machine: with the kernel's autogroup scheduling, the CPU is shared between
# sessions before it is shared between processes, so tests or builds in other sessions weigh as much
# as the whole bench; SESSION_NICE (default -10; 0 = leave it) sets the nice value of this script's
# autogroup (server and generator; PostgreSQL runs elsewhere) for the run and puts the old value back
# at the end, and WAIT_IDLE (seconds, default 0) waits at most that long, before the set-up, for the
# rest of the machine to use under a quarter of a core. The report's CPU table shows what the rest of
# the machine used in each phase, and a NOTE says when it was more than half a core.
# Other knobs: STUDENTS (4), DAYS (7), WARMUP (3 s, not reported), PORT (18184), DB_MAX_CONNECTIONS,
# JOB_WORKERS, BENCH_SSLMODE (disable), BENCH_DATABASE_URL (else TEST_DATABASE_URL, else
# postgres://postgres@127.0.0.1:5432/test; the database named in it is only used to connect),
# RUST_LOG (warn), KEEP_LOG=1 (keep the server log and print its path). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/server-log.sh
ATTACK="${1:-${ATTACK:-70}}"
RATE="${2:-${RATE:-100}}"
QUIET="${3:-${QUIET:-20}}"
PORT="${PORT:-18184}"
BASE_URL="${BENCH_DATABASE_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
DB="${BENCH_DB:-mentor_bench_edge}"
SECRET="bench-secret-$$"
SERVER="${BASE_URL%/*}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mentor-target}"
HEADER_TIMEOUT="${HTTP_HEADER_TIMEOUT_SECONDS:-20}"
BODY_TIMEOUT="${HTTP_BODY_TIMEOUT_SECONDS:-30}"
REQUEST_TIMEOUT="${HTTP_REQUEST_TIMEOUT_SECONDS:-60}"

AUTOGROUP="/proc/$$/autogroup"
OLD_NICE=""
if [ "${SESSION_NICE:--10}" != 0 ] && [ -w "$AUTOGROUP" ]; then
  OLD_NICE=$(sed -n 's/.* nice \(-\?[0-9]*\)$/\1/p' "$AUTOGROUP")
  echo "${SESSION_NICE:--10}" > "$AUTOGROUP" 2>/dev/null || OLD_NICE=""
fi
ulimit -Hn 65536 2>/dev/null || true
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release -q --bin mentor-scheduler --example edge_attacks
BIN="$CARGO_TARGET_DIR/release/mentor-scheduler"
LOAD="$CARGO_TARGET_DIR/release/examples/edge_attacks"
# A database left by an interrupted run is dropped; one in use is not (the script stops there).
psql "$BASE_URL" -qc "DROP DATABASE IF EXISTS $DB"
psql "$BASE_URL" -qc "CREATE DATABASE $DB"
WORK=$(mktemp -d)
cleanup() {
  [ -n "$OLD_NICE" ] && echo "$OLD_NICE" > "$AUTOGROUP" 2>/dev/null || true
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  psql "$BASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  if [ "${KEEP_LOG:-0}" = 1 ]; then echo "server log kept in $WORK/server.log"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

export DATABASE_URL="$SERVER/$DB?sslmode=${BENCH_SSLMODE:-disable}" BIND_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK" \
  JWT_SECRET="$SECRET" RUST_LOG="${RUST_LOG:-warn}" \
  HTTP_HEADER_TIMEOUT_SECONDS="$HEADER_TIMEOUT" HTTP_BODY_TIMEOUT_SECONDS="$BODY_TIMEOUT" \
  HTTP_REQUEST_TIMEOUT_SECONDS="$REQUEST_TIMEOUT"
"$BIN" migrate
"$BIN" serve > "$WORK/server.log" 2>&1 & PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "FAILED: the server did not get ready"; cat "$WORK/server.log"; exit 2; }
echo "server pid $PID on 127.0.0.1:$PORT, database $DB; JOB_WORKERS=${JOB_WORKERS:-default} DB_MAX_CONNECTIONS=${DB_MAX_CONNECTIONS:-default};" \
  "deadlines: header $HEADER_TIMEOUT s, body $BODY_TIMEOUT s, request $REQUEST_TIMEOUT s; $(nproc) cores;" \
  "this session's $(cat "$AUTOGROUP" 2>/dev/null || echo 'autogroup: none'); load average $(cut -d' ' -f1-3 /proc/loadavg)"

set +e
BENCH_ADDR="127.0.0.1:$PORT" BENCH_JWT_SECRET="$SECRET" BENCH_SERVER_PID="$PID" \
  BENCH_WARMUP="${WARMUP:-3}" BENCH_QUIET="$QUIET" BENCH_ATTACK="$ATTACK" BENCH_AFTER="${AFTER:-5}" \
  BENCH_RATE="$RATE" BENCH_STUDENTS="${STUDENTS:-4}" BENCH_DAYS="${DAYS:-7}" \
  BENCH_WS_SOCKETS="${WS_SOCKETS:-16}" BENCH_WS_SUBSCRIBES="${WS_SUBSCRIBES:-30}" \
  BENCH_NESTED_LOOPS="${NESTED_LOOPS:-1}" BENCH_ALIAS_LOOPS="${ALIAS_LOOPS:-1}" \
  BENCH_SLOW_HEADER="${SLOW_HEADER:-300}" BENCH_SLOW_SILENT="${SLOW_SILENT:-50}" BENCH_SLOW_BODY="${SLOW_BODY:-50}" \
  BENCH_SLOW_INTERVAL_MS="${SLOW_INTERVAL_MS:-1000}" BENCH_MAX_BODY_BYTES="${MAX_BODY_BYTES:-262144}" \
  BENCH_HEADER_TIMEOUT="$HEADER_TIMEOUT" BENCH_BODY_TIMEOUT="$BODY_TIMEOUT" BENCH_REQUEST_TIMEOUT="$REQUEST_TIMEOUT" \
  BENCH_WAIT_IDLE="${WAIT_IDLE:-0}" BENCH_NORMAL_NICE="${NORMAL_NICE:--10}" BENCH_NORMAL_RT="${NORMAL_RT:-10}" \
  BENCH_ATTACK_NICE="${ATTACK_NICE:-0}" BENCH_ATTACKS="${ATTACK_KINDS:-ws,nested,aliases,slowloris}" \
  BENCH_TARGET_RATIO="${TARGET_RATIO:-2}" BENCH_TARGET_RSS_MB="${TARGET_RSS_MB:-300}" "$LOAD"
STATUS=$?
set -e

echo
if kill -0 "$PID" 2>/dev/null; then
  READY=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz" || true)
  echo "server still running; /readyz from curl: $READY"
  [ "$READY" = 200 ] || { [ "$STATUS" = 2 ] || STATUS=1; }
else
  echo "FAILED: the server is no longer running"; STATUS=1
fi
summarize_server_log "$WORK/server.log"
case "$STATUS" in
  0) echo "OK";;
  3) echo "TARGETS MISSED (no errors; healthy after the attack)"; exit 3;;
  2) echo "FAILED: set-up"; exit 2;;
  *) echo "FAILED: the normal client saw errors or the server is unhealthy after the attack"; exit 1;;
esac
