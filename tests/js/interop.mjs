// Interop: the reference `graphql-ws` client (what the React dashboard uses) against our
// `/graphql/ws`, over a real socket, speaking `graphql-transport-ws`.
//
// Run by tests/api/js_client.rs, which starts the server and passes:
//   WS_URL         ws://127.0.0.1:PORT/graphql/ws
//   HTTP_URL       http://127.0.0.1:PORT/graphql
//   STUDENT_TOKEN  a student's JWT (the user exists); STUDENT_ID their id
//   ADMIN_TOKEN    an admin's JWT (for sendNotification)
//   BAD_TOKEN      a token the server must refuse (close code 4403)
//
// Prints one JSON line and exits 0 on success; prints the reason (and the frames exchanged) and
// exits 1 on any failure or after 20 s. INTEROP_TRACE=1 prints the frames on success too.

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const TIMEOUT_MS = 20_000;
const started = Date.now();
const trace = []; // every frame sent and received, to print on failure
const protocols = {}; // the subprotocol each client's socket negotiated
let stage = 'start';

function env(name) {
  const value = process.env[name];
  if (!value) fail(`missing env ${name}`);
  return value;
}

function fail(reason) {
  console.error(`interop FAILED at stage "${stage}": ${reason}`);
  if (trace.length) {
    console.error('frames (> sent, < received):');
    for (const line of trace) console.error(`  ${line}`);
  }
  process.exit(1);
}

const overall = setTimeout(() => fail(`timed out after ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS);
process.on('unhandledRejection', (e) => fail(`unhandled rejection: ${describe(e)}`));
process.on('uncaughtException', (e) => fail(`uncaught exception: ${describe(e)}`));

function describe(e) {
  if (e && typeof e === 'object' && 'code' in e && 'reason' in e) {
    return `close event ${e.code} ${JSON.stringify(e.reason)}`;
  }
  if (e instanceof Error) return e.stack || e.message;
  // A socket error (ws's ErrorEvent: connection refused, ...) or GraphQL errors.
  if (e && typeof e === 'object' && typeof e.message === 'string') return `${e.type ?? 'error'}: ${e.message}`;
  return JSON.stringify(e);
}

function assert(condition, message) {
  if (!condition) fail(`assertion failed: ${message}`);
}

const WS_URL = env('WS_URL');
const HTTP_URL = env('HTTP_URL');
const STUDENT_TOKEN = env('STUDENT_TOKEN');
const STUDENT_ID = env('STUDENT_ID');
const ADMIN_TOKEN = env('ADMIN_TOKEN');
const BAD_TOKEN = env('BAD_TOKEN');

/** The `ws` WebSocket, recording every frame the client sends, tagged with the client's name. */
function tracingWebSocket(name) {
  return class extends WebSocket {
    constructor(...args) {
      super(...args);
      trace.push(`${name} open ${args[0]} protocol=${JSON.stringify(args[1])}`);
      this.addEventListener('open', () => {
        protocols[name] = this.protocol;
        trace.push(`${name} opened, subprotocol ${JSON.stringify(this.protocol)}`);
      });
      this.addEventListener('message', (m) => trace.push(`${name} < ${m.data}`));
      this.addEventListener('close', (c) =>
        trace.push(`${name} closed ${c.code} ${JSON.stringify(c.reason)}`),
      );
    }
    send(data, ...rest) {
      trace.push(`${name} > ${data}`);
      return super.send(data, ...rest);
    }
  };
}

function client(name, token, extra = {}) {
  return createClient({
    url: WS_URL,
    webSocketImpl: tracingWebSocket(name),
    connectionParams: { authorization: `Bearer ${token}` },
    ...extra,
  });
}

/** A subscription's events as a queue: `take()` waits for the next value. */
function subscribe(c, name, query, variables = {}) {
  const values = [];
  const waiters = [];
  let ended = null; // {error} or {complete: true}
  const settle = () => {
    while (waiters.length && (values.length || ended)) {
      const w = waiters.shift();
      if (values.length) w.resolve(values.shift());
      else if (ended.error !== undefined) w.reject(ended.error);
      else w.reject(new Error(`${name} completed`));
    }
  };
  const unsubscribe = c.subscribe(
    { query, variables },
    {
      next: (result) => {
        values.push(result);
        settle();
      },
      error: (error) => {
        ended = { error };
        settle();
      },
      complete: () => {
        ended ??= { complete: true };
        settle();
      },
    },
  );
  return {
    unsubscribe,
    take(what) {
      stage = `${name}: ${what}`;
      return new Promise((resolve, reject) => {
        waiters.push({ resolve, reject });
        settle();
      });
    },
    /** The subscription's terminal error (resolves with it), failing if a value or completion comes first. */
    async failure(what) {
      stage = `${name}: ${what}`;
      try {
        const value = await this.take(what);
        fail(`expected an error, got ${JSON.stringify(value)}`);
      } catch (e) {
        return e;
      }
    },
  };
}

/** `data` of one GraphQL request over HTTP, failing on errors. */
async function http(token, query, variables = {}) {
  const response = await fetch(HTTP_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.text();
  assert(response.ok, `HTTP ${response.status}: ${body}`);
  const json = JSON.parse(body);
  assert(!json.errors, `GraphQL errors: ${body}`);
  return json.data;
}

/** The `data` of a `next` result, failing when it carries errors. */
function data(result, field) {
  assert(!result.errors && result.data, `expected data, got ${JSON.stringify(result)}`);
  return result.data[field];
}

const RECEIVED =
  'subscription { notificationReceived { id type title body link createdAt cursor } }';
const COUNT = 'subscription { unreadNotificationCount }';

async function main() {
  let studentClosed;
  const studentClose = new Promise((resolve) => (studentClosed = resolve));
  const student = client('student', STUDENT_TOKEN, { on: { closed: (e) => studentClosed(e.code) } });
  const received = subscribe(student, 'notificationReceived', RECEIVED);
  const count = subscribe(student, 'unreadNotificationCount', COUNT);
  const summary = { client: 'graphql-ws', protocol: null, counts: [] };

  // a. Both live: the count says 0 at once (and notificationReceived was subscribed before it).
  let value = data(await count.take('first count'), 'unreadNotificationCount');
  summary.counts.push(value);
  assert(value === 0, `first count ${value}, expected 0`);

  // b. An admin notifies the student over HTTP.
  const title = `Interop ${Date.now()}`;
  stage = 'sendNotification';
  const sent = await http(
    ADMIN_TOKEN,
    'mutation($input: SendNotificationInput!) { sendNotification(input: $input) { delivered skipped } }',
    {
      input: {
        userIds: [STUDENT_ID],
        type: 'SYSTEM_UPDATE',
        title,
        body: 'Sent by the graphql-ws interop test.',
        link: '/notifications',
      },
    },
  );
  assert(
    sent.sendNotification.delivered === 1 && sent.sendNotification.skipped === 0,
    `sendNotification answered ${JSON.stringify(sent)}`,
  );

  // c. It arrives live, the count goes to 1, and back to 0 once all are read.
  const notification = data(await received.take('the notification'), 'notificationReceived');
  assert(notification.title === title, `title ${JSON.stringify(notification.title)}`);
  assert(notification.type === 'SYSTEM_UPDATE', `type ${notification.type}`);
  assert(notification.link === '/notifications', `link ${notification.link}`);
  assert(notification.id && notification.cursor && notification.createdAt, 'id, cursor, createdAt');

  value = data(await count.take('count after the notification'), 'unreadNotificationCount');
  summary.counts.push(value);
  assert(value === 1, `count ${value} after the notification, expected 1`);

  stage = 'markAllNotificationsRead';
  const marked = await http(STUDENT_TOKEN, 'mutation { markAllNotificationsRead }');
  assert(marked.markAllNotificationsRead === 1, `markAllNotificationsRead ${JSON.stringify(marked)}`);

  value = data(await count.take('count after reading all'), 'unreadNotificationCount');
  summary.counts.push(value);
  assert(value === 0, `count ${value} after markAllNotificationsRead, expected 0`);

  // A resolver error (a cursor the API never gave out) reaches the client as a GraphQL error with
  // its code (in `next` or `error`, both allowed), on the same socket.
  const badCursor = subscribe(
    student,
    'notificationReceived(after: bad)',
    RECEIVED.replace('notificationReceived', 'notificationReceived(after: "not-a-cursor")'),
  );
  const errorResult = await badCursor.take('error for a bad cursor').catch((e) => ({ errors: e }));
  const errors = Array.isArray(errorResult.errors) ? errorResult.errors : [];
  assert(
    errors[0]?.extensions?.code === 'BAD_USER_INPUT',
    `expected BAD_USER_INPUT, got ${JSON.stringify(errorResult)}`,
  );
  summary.badCursorError = errors[0].extensions.code;

  received.unsubscribe();
  count.unsubscribe();
  summary.protocol = protocols.student;
  assert(protocols.student === 'graphql-transport-ws', `negotiated ${protocols.student}`);
  await student.dispose();
  // Reported, not asserted: 1000 when the server answers the client's Close frame, 1006 (abnormal)
  // when it drops the connection instead, which graphql-ws counts as a failure to retry with backoff.
  stage = 'student socket closing';
  summary.studentCloseCode = await studentClose;

  // d. A refused token: close code 4403, reported to the subscriber (no retries here).
  const closes = [];
  const bad = client('bad', BAD_TOKEN, {
    retryAttempts: 0,
    shouldRetry: () => false,
    on: { closed: (event) => closes.push(event.code) },
  });
  const refused = subscribe(bad, 'refused', COUNT);
  const error = await refused.failure('close 4403 for a bad token');
  assert(error?.code === 4403, `expected close code 4403, got ${describe(error)}`);
  assert(closes.includes(4403), `closed events ${JSON.stringify(closes)}`);
  summary.badTokenClose = error.code;
  await bad.dispose();

  // e. Done.
  clearTimeout(overall);
  summary.ok = true;
  summary.frames = trace.length;
  summary.ms = Date.now() - started;
  if (process.env.INTEROP_TRACE === '1') for (const line of trace) console.error(`  ${line}`);
  console.log(JSON.stringify(summary));
  process.exit(0);
}

main().catch((e) => fail(describe(e)));
