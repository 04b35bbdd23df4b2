#!/usr/bin/env bash
# Load test: email through the outbox to a real SMTP server, on PostgreSQL, and how late reminders fire.
# Usage: bench/email-load.sh [emails [reminders]]   (defaults 2000 and 200, 0 reminders skips part 2;
# needs psql, curl, python3)
# Builds the release binary, creates a fresh database, starts an SMTP server that writes every
# message it accepts to a file of its own, and the server with SMTP_URL pointing at it. The SMTP
# server is Postfix's `smtp-sink` (C, event-driven, about 0.1 ms of CPU a message; installed from
# Debian's `postfix` package on first use), its files under TMPDIR, /dev/shm when unset (creating a
# file on disk costs about 0.6 ms here, in memory 14 us): the bench measures this service, so its
# SMTP server must cost little beside it. SMTP_SINK=aiosmtpd uses tests/smtp/server.py (aiosmtpd,
# the tests' SMTP server, 0.6 to 1.5 ms of CPU a message on one core: about 400 to 950 messages a
# second is its own limit here), SMTP_SINK=node Nodemailer's smtp-server (bench/smtp-sink, from npm
# on first use). SMTP_ARGS passes options to that SMTP server (aiosmtpd's `--no-pipelining`
# measures the server sending one command at a time).
# 1. Throughput: `emails` students are inserted, then `sendNotification` (SUPPORT_TICKET, which is
#    emailed at once) goes to all of them, 1000 per call. Every email is rendered and queued in the
#    call's transaction and sent by the server's `email.send` jobs (JOB_WORKERS, default 8). Reported:
#    emails/s from the first queued to the last sent, the queueing part alone, and the count the SMTP
#    server wrote (it must equal `emails`).
# 2. Reminders: `reminders` mentors (available all day, no minimum notice) each get one 30-minute
#    booking starting about 62 minutes ahead, all at the same minute, so every 1-hour reminder (two a
#    session: student and mentor) falls due at one instant. Reminders are written a minute ahead of
#    their time (the session timeline job) and sent when due. Reported, per email: how long before
#    due it was written (min, p50; negative if the timeline job ran late), and due -> sent as
#    min/p50/p99/max. `sent_at` is when `SENT` committed, with the job's completion, just after
#    the SMTP server's answer, so lateness includes that commit. None may be sent before it is due
#    (their jobs run at the due instant; the check reads `sent_at`).
# JOB_POLL_INTERVAL_MS (default 500 here too) bounds how long an idle runner takes to notice due work.
# Progress is polled every 0.5 s (a psql process each time, the binary itself: Debian's `psql` is a
# Perl wrapper that costs 50 ms of CPU a call, a tenth of a reminder burst's); every figure comes
# from the rows' own timestamps, so polling seldom costs no precision and leaves the CPU to what is
# measured. Part 2 starts polling only after the reminders' instant, so nothing of the bench's own
# runs while they are sent. Part 1 also
# reports the CPU time the whole machine, the server and the SMTP server spent over it.
# Everything stays on 127.0.0.1; the server, PostgreSQL, the SMTP server and curl share the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
EMAILS="${1:-2000}"
REMINDERS="${2:-200}"
PORT="${PORT:-18183}"
BASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
DB="mentor_bench_email_$$"
SERVER="${BASE_URL%/*}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mentor-target}"
SMTP_SINK="${SMTP_SINK:-postfix}"
case "$SMTP_SINK" in
  aiosmtpd) python3 -c 'import aiosmtpd' 2>/dev/null || pip install -q aiosmtpd==1.4.6 ;;
  node) [ -d bench/smtp-sink/node_modules ] || npm ci -s --no-audit --no-fund --prefix bench/smtp-sink ;;
  postfix) command -v smtp-sink >/dev/null || {
      echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null; } ;;
  *) echo "SMTP_SINK is aiosmtpd, node or postfix, not $SMTP_SINK"; exit 2 ;;
esac

# BENCH_BIN runs a binary built before (to compare two builds run after run) instead of building.
if [ -n "${BENCH_BIN:-}" ]; then BIN=$BENCH_BIN; else
  cargo build --release -q --bin mentor-scheduler
  BIN="$CARGO_TARGET_DIR/release/mentor-scheduler"
fi
PSQL=$(ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1)
PSQL=${PSQL:-psql}
"$PSQL" "$BASE_URL" -qc "CREATE DATABASE $DB"
if [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
WORK=$(mktemp -d)
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  [ -n "${SMTP_PID:-}" ] && kill "$SMTP_PID" 2>/dev/null && wait "$SMTP_PID" 2>/dev/null || true
  "$PSQL" "$BASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$SMTP_SINK" = node ]; then
  node bench/smtp-sink/sink.mjs "$WORK/smtp" > "$WORK/smtp.out" 2>&1 & SMTP_PID=$!
elif [ "$SMTP_SINK" = postfix ]; then
  # Postfix's smtp-sink (C, one process, event-driven), each message to a file of its own.
  SINK_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$WORK/smtp" && chmod 755 "$WORK" && chmod 777 "$WORK/smtp"  # it writes as nobody
  smtp-sink -u nobody -d "$WORK/smtp/%H/" ${SMTP_ARGS:-} "127.0.0.1:$SINK_PORT" 256 > "$WORK/smtp.out" 2>&1 & SMTP_PID=$!
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null && break; sleep 0.1; done
  echo "READY $SINK_PORT" >> "$WORK/smtp.out"
else
  python3 tests/smtp/server.py --dir "$WORK/smtp" ${SMTP_ARGS:-} > "$WORK/smtp.out" 2>&1 & SMTP_PID=$!
fi
for _ in $(seq 1 100); do grep -q READY "$WORK/smtp.out" && break; sleep 0.1; done
SMTP_PORT=$(awk '/READY/ {print $2}' "$WORK/smtp.out")
[ -n "$SMTP_PORT" ] || { echo "FAILED: the SMTP server did not start"; cat "$WORK/smtp.out"; exit 1; }

export DATABASE_URL="$SERVER/$DB?sslmode=${BENCH_SSLMODE:-disable}" BIND_ADDR="127.0.0.1:$PORT" \
  DATA_DIR="$WORK" JWT_SECRET=bench-secret RUST_LOG=warn DB_MAX_CONNECTIONS=32 \
  SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" JOB_WORKERS="${JOB_WORKERS:-8}" \
  JOB_POLL_INTERVAL_MS="${JOB_POLL_INTERVAL_MS:-500}" EMAIL_FROM="Bench <no-reply@bench.example>"
"$BIN" migrate
# BENCH_SQL runs on the new database after its migrations, to try a schema change or a setting.
[ -z "${BENCH_SQL:-}" ] || "$PSQL" "$SERVER/$DB" -qc "$BENCH_SQL"
"$BIN" serve > "$WORK/server.log" 2>&1 & PID=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

gql() { curl -sf "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' -H "authorization: Bearer $1" -d "$2"; }
sql() { "$PSQL" "$SERVER/$DB" -qAtc "$1"; }
# Waits until `query` prints `want`, for at most `seconds`.
wait_for() {
  local query=$1 want=$2 seconds=$3 got
  for _ in $(seq 1 $((seconds * 2))); do
    got=$(sql "$query"); [ "$got" = "$want" ] && return 0; sleep 0.5
  done
  echo "FAILED: waited ${seconds}s for $want, have $got"; exit 1
}
ADMIN=$("$BIN" token --sub clbenchadmin000000000001 --role admin --tz UTC --ttl-hours 2)

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }     # user + system jiffies of a process
busy() { awk '/^cpu / {print $2 + $3 + $4, $2 + $3 + $4 + $5}' /proc/stat; }  # busy and total jiffies
HZ=$(getconf CLK_TCK)
# PostgreSQL's processes and their jiffies; then the milliseconds of CPU they spent since such a
# snapshot (a process started since counts from zero; one that ended, a poll's, is not counted).
pg_snapshot() { for p in $(pgrep -x postgres); do echo "$p $(cpu "$p" 2>/dev/null || echo 0)"; done; }
pg_spent() { pg_snapshot | awk -v hz="$HZ" 'NR == FNR {s[$1] = $2; next}
                                            {d += $2 - ($1 in s ? s[$1] : 0)} END {print int(d * 1000 / hz)}' "$1" -; }
echo "== 1. $EMAILS emails through the outbox to SMTP ($SMTP_SINK, JOB_WORKERS=$JOB_WORKERS)"
read -r B0 T0 < <(busy); C0=$(cpu "$PID"); S0=$(cpu "$SMTP_PID"); pg_snapshot > "$WORK/pg0"
sql "INSERT INTO users (id, role, name, email, time_zone, created_at, updated_at)
     SELECT 'clbenchstudent' || lpad(i::text, 11, '0'), 'student', 'Student ' || i,
            'student' || i || '@bench.example', 'Europe/London', now(), now()
     FROM generate_series(1, $EMAILS) AS i"
for first in $(seq 1 1000 "$EMAILS"); do
  last=$(( first + 999 < EMAILS ? first + 999 : EMAILS ))
  BODY=$(python3 -c "
import json, sys
ids = ['clbenchstudent%011d' % i for i in range($first, $last + 1)]
print(json.dumps({'query': 'mutation(\$i: SendNotificationInput!) { sendNotification(input: \$i) { delivered } }',
                  'variables': {'i': {'userIds': ids, 'type': 'SUPPORT_TICKET', 'title': 'Ticket #1042 updated',
                                      'body': 'We answered your question about rescheduling.', 'link': '/support/1042'}}}))")
  OUT=$(gql "$ADMIN" "$BODY")
  case "$OUT" in *'"errors"'*|'') echo "FAILED: sendNotification: $OUT"; exit 1;; esac
done
wait_for "SELECT count(*) FROM email_notifications WHERE template = 'support_ticket' AND status = 'SENT'" "$EMAILS" 600
sql "SELECT format('queued %s emails in %s s; first queued to last sent %s s: %s emails/s',
            count(*), round(extract(epoch FROM max(created_at) - min(created_at))::numeric, 2),
            round(extract(epoch FROM max(sent_at) - min(created_at))::numeric, 2),
            round(count(*) / extract(epoch FROM max(sent_at) - min(created_at))::numeric))
     FROM email_notifications WHERE template = 'support_ticket'"
read -r B1 T1 < <(busy); C1=$(cpu "$PID"); S1=$(cpu "$SMTP_PID"); PG1=$(pg_spent "$WORK/pg0")
echo "CPU over part 1: machine $(( (B1 - B0) * 100 / (T1 - T0) ))% busy ($(nproc) cores); server $(( (C1 - C0) * 1000 / HZ )) ms, PostgreSQL $PG1 ms, SMTP server $(( (S1 - S0) * 1000 / HZ )) ms"
RECEIVED=$(find "$WORK/smtp" -type f \( -name '*.eml' -o -path '*/smtp/*/*' \) | wc -l)
echo "the SMTP server wrote $RECEIVED messages"
[ "$RECEIVED" -eq "$EMAILS" ] || { echo "FAILED: expected $EMAILS messages"; exit 1; }

[ "$REMINDERS" -gt 0 ] || exit 0  # part 1 alone
echo "== 2. $REMINDERS sessions whose 1-hour reminders fall due at one instant"
BLOCKS=$(for d in MONDAY TUESDAY WEDNESDAY THURSDAY FRIDAY SATURDAY SUNDAY; do printf '{"weekday":"%s","start":"00:00","end":"24:00"},' $d; done)
ZONES=(America/New_York Europe/London Asia/Kolkata Australia/Sydney Australia/Lord_Howe UTC)
# Three minutes ahead, rounded up to a whole minute, leaves time to book before the reminders are
# written (a minute before they are due).
START=$(date -u -d "@$(( ($(date +%s) + 180 + 59) / 60 * 60 + 3600 ))" +%Y-%m-%dT%H:%M:%SZ)
for i in $(seq 1 "$REMINDERS"); do
  MENTOR=$(printf 'clbenchmentor%012d' "$i"); ZONE=${ZONES[$(( i % ${#ZONES[@]} ))]}
  PUPIL=$(printf 'clbenchpupil%013d' "$i")
  MT=$("$BIN" token --sub "$MENTOR" --role mentor --tz "$ZONE" --email "$MENTOR@bench.example" --ttl-hours 2)
  ST=$("$BIN" token --sub "$PUPIL" --role student --tz Europe/London --email "$PUPIL@bench.example" --ttl-hours 2)
  OUT=$(gql "$MT" "{\"query\":\"mutation(\$i: WeeklyScheduleInput!) { setWeeklySchedule(input: \$i) { mentorId } }\",\"variables\":{\"i\":{\"timeZone\":\"$ZONE\",\"minimumNoticeMinutes\":0,\"bufferMinutes\":0,\"blocks\":[${BLOCKS%,}]}}}")
  case "$OUT" in *'"errors"'*|'') echo "FAILED: setWeeklySchedule: $OUT"; exit 1;; esac
  OUT=$(gql "$ST" "{\"query\":\"mutation(\$i: CreateBookingInput!) { createBooking(input: \$i) { id } }\",\"variables\":{\"i\":{\"mentorId\":\"$MENTOR\",\"frequency\":\"ONCE_WEEKLY\",\"slots\":[\"$START\"],\"durationMinutes\":30,\"weeks\":1,\"subject\":\"Bench\"}}}")
  case "$OUT" in *'"errors"'*|'') echo "FAILED: createBooking: $OUT"; exit 1;; esac
done
DUE_IN=$(( $(date -d "$START" +%s) - 3600 - $(date +%s) ))
echo "booked $REMINDERS sessions at $START; the reminders are due in ${DUE_IN}s"
[ "$DUE_IN" -gt 0 ] || { echo "FAILED: booking took too long, the reminders were due before the last booking"; exit 1; }
# Nothing polls until a second after the instant (a known time, not a condition waited for). The
# CPU spent is counted from a second before it until every reminder was sent.
DUE_AT=$(( $(date -d "$START" +%s) - 3600 ))
sleep $(( DUE_AT - 1 - $(date +%s) ))
read -r B0 T0 < <(busy); C0=$(cpu "$PID"); S0=$(cpu "$SMTP_PID"); pg_snapshot > "$WORK/pg0"
sleep $(( DUE_AT + 1 - $(date +%s) ))
wait_for "SELECT count(*) FROM email_notifications WHERE template = 'reminder_1h' AND status = 'SENT'" \
  "$(( REMINDERS * 2 ))" $(( DUE_IN + 300 ))
read -r B1 T1 < <(busy); C1=$(cpu "$PID"); S1=$(cpu "$SMTP_PID"); PG1=$(pg_spent "$WORK/pg0")
echo "CPU from a second before due until all were sent: machine $(( (B1 - B0) * 100 / (T1 - T0) ))% busy; server $(( (C1 - C0) * 1000 / HZ )) ms, PostgreSQL $PG1 ms, SMTP server $(( (S1 - S0) * 1000 / HZ )) ms"
sql "WITH r AS (
       SELECT extract(epoch FROM (s.start_at - interval '1 hour') - e.created_at) AS ahead,
              extract(epoch FROM e.sent_at - (s.start_at - interval '1 hour')) AS late
       FROM email_notifications e JOIN sessions s ON s.id = split_part(e.dedupe_key, ':', 2)
       WHERE e.template = 'reminder_1h')
     SELECT format('%s reminders; written before due (s), min / p50: %s / %s; sent after due (s), min / p50 / p99 / max: %s / %s / %s / %s',
       count(*), round(min(ahead)::numeric, 3),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ahead)::numeric, 3), round(min(late)::numeric, 3),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY late)::numeric, 3),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY late)::numeric, 3), round(max(late)::numeric, 3))
     FROM r"
EARLY=$(sql "SELECT count(*) FROM email_notifications e JOIN sessions s ON s.id = split_part(e.dedupe_key, ':', 2)
             WHERE e.template = 'reminder_1h' AND e.sent_at < s.start_at - interval '1 hour'")
[ "$EARLY" = 0 ] || { echo "FAILED: $EARLY reminders were sent before they were due"; exit 1; }
ERRORS=$(grep -c ERROR "$WORK/server.log" || true)
echo "server log: $ERRORS ERROR lines"
