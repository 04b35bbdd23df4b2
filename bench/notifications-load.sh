#!/usr/bin/env bash
# Load test: live notifications over WebSocket, with the Redis event bus, on PostgreSQL.
# Usage: bench/notifications-load.sh [subscribers [rate [seconds]]]
#   (defaults 10000 subscribers, 1000 notifications/s, 20 s; also SUBSCRIBERS, RATE, DURATION;
#   needs psql, curl and a Redis at REDIS_URL, default redis://127.0.0.1:6379)
# Builds the release binary and the load generator (examples/notification_load.rs), creates a fresh
# database, starts the server on it with the Redis bus (a channel prefix of its own, so other users
# of the same Redis are neither heard nor disturbed) and runs the generator against it: it opens one
# WebSocket per subscriber (graphql-transport-ws, `notificationReceived`), each a user of its own,
# then sends RATE notifications a second through the admin mutation `sendNotification` over HTTP
# (BATCH users per request, default 1), each spawned at its planned instant. It reports connections,
# notifications sent / received / missing / duplicated / misrouted, latency p50/p90/p99/p99.9/max
# from the mutation's start and from the notification's Redis message (the generator PSUBSCRIBEs to
# the users' channels too) to the WebSocket, a raw Redis PUBLISH -> SUBSCRIBE baseline at the same
# rate in the same run, and the server's RSS and CPU. Targets: p99 Redis -> WebSocket < 50 ms
# (TARGET_P99_MS), server RSS < 300 MB (TARGET_RSS_MB). Exit status 0 when everything arrived
# exactly once and the targets were met, 3 when only a target was missed, 1 otherwise.
# The server, PostgreSQL, Redis and the generator share the machine's cores; the generator runs on
# GENERATOR_THREADS (default 2) threads. Everything stays on 127.0.0.1. Server logs go to a file; the
# script shows its WARN/ERROR lines. Other knobs: PORT, DB_MAX_CONNECTIONS (default 16),
# CONNECT_CONCURRENCY (handshakes in flight, default 256), BENCH_SSLMODE (default disable),
# BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), KEEP_LOG=1 (print the
# server log's path and keep it).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/server-log.sh
SUBSCRIBERS="${1:-${SUBSCRIBERS:-10000}}"
RATE="${2:-${RATE:-1000}}"
DURATION="${3:-${DURATION:-20}}"
PORT="${PORT:-18183}"
BASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
DB="mentor_bench_notifications_$$"
PREFIX="mentor-bench-$$-$(date +%s):"
SECRET="bench-secret-$$"
SERVER="${BASE_URL%/*}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mentor-target}"

# One socket per subscriber on each side (the server and the generator are separate processes),
# plus the database pool, Redis and HTTP connections.
WANT_FDS=$(( SUBSCRIBERS + 4096 ))
(( WANT_FDS < 65536 )) && WANT_FDS=65536
ulimit -Hn "$WANT_FDS" 2>/dev/null || true
ulimit -n "$WANT_FDS" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < SUBSCRIBERS + 1024 )); then
  echo "FAILED: open files limit $(ulimit -n) (hard $(ulimit -Hn)) is too low for $SUBSCRIBERS subscribers"; exit 1
fi
PORTS=$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range)
if (( PORTS < SUBSCRIBERS + 1024 )); then
  echo "FAILED: only $PORTS ephemeral ports (net.ipv4.ip_local_port_range) for $SUBSCRIBERS subscribers"; exit 1
fi
redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 || { echo "FAILED: no Redis at $REDIS_URL"; exit 1; }

cargo build --release -q --bin mentor-scheduler --example notification_load
BIN="$CARGO_TARGET_DIR/release/mentor-scheduler"
LOAD="$CARGO_TARGET_DIR/release/examples/notification_load"
psql "$BASE_URL" -qc "CREATE DATABASE $DB"
WORK=$(mktemp -d)
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  psql "$BASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  if [ "${KEEP_LOG:-0}" = 1 ]; then echo "server log kept in $WORK/server.log"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Thousands of sockets open from one address and one admin sends at the bench's rate: the per-caller
# rate limit is off (fan-out is what is measured).
export DATABASE_URL="$SERVER/$DB?sslmode=${BENCH_SSLMODE:-disable}" BIND_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK" \
  JWT_SECRET="$SECRET" RUST_LOG=warn DB_MAX_CONNECTIONS="${DB_MAX_CONNECTIONS:-16}" JOB_WORKERS=0 \
  REDIS_URL REDIS_CHANNEL_PREFIX="$PREFIX" RATE_LIMIT_PER_SECOND=0
"$BIN" migrate
"$BIN" serve > "$WORK/server.log" 2>&1 & PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "FAILED: the server did not get ready"; cat "$WORK/server.log"; exit 1; }

# The listening socket's accept backlog (ss shows it as Send-Q): a burst of connections beyond it
# loses SYNs, which clients retry after a second.
BACKLOG=$(ss -ltnH "sport = :$PORT" 2>/dev/null | awk '{print $3; exit}')
echo "notifications load: $SUBSCRIBERS subscribers, $RATE notifications/s for $DURATION s; server pid $PID on 127.0.0.1:$PORT" \
  "(accept backlog ${BACKLOG:-unknown}), PostgreSQL database $DB (pool ${DB_MAX_CONNECTIONS:-16}), Redis $REDIS_URL prefix $PREFIX;" \
  "open files limit $(ulimit -n)"
set +e
BENCH_URL="http://127.0.0.1:$PORT/graphql" BENCH_WS_URL="ws://127.0.0.1:$PORT/graphql/ws" BENCH_JWT_SECRET="$SECRET" \
  BENCH_SERVER_PID="$PID" BENCH_REDIS_URL="$REDIS_URL" BENCH_REDIS_PREFIX="$PREFIX" \
  BENCH_SUBSCRIBERS="$SUBSCRIBERS" BENCH_RATE="$RATE" BENCH_DURATION="$DURATION" BENCH_BATCH="${BATCH:-1}" \
  BENCH_CONNECT_CONCURRENCY="${CONNECT_CONCURRENCY:-256}" BENCH_THREADS="${GENERATOR_THREADS:-2}" \
  BENCH_TARGET_P99_MS="${TARGET_P99_MS:-50}" BENCH_TARGET_RSS_MB="${TARGET_RSS_MB:-300}" "$LOAD"
STATUS=$?
set -e

kill -0 "$PID" 2>/dev/null || echo "WARNING: the server is no longer running"
summarize_server_log "$WORK/server.log"
case "$STATUS" in
  0) echo "OK";;
  3) echo "TARGETS MISSED (everything arrived exactly once)"; exit 3;;
  *) echo "FAILED: the load generator exited with status $STATUS"; exit 1;;
esac
