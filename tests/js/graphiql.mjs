// GraphiQL in a real browser (run by tests/api/graphiql.rs): headless Chromium opens GET /graphql
// as a user would, waits for GraphiQL's editors, puts a bearer token in the Headers tab, runs
// `{ me { id } }` over HTTP and `subscription { unreadNotificationCount }` over the socket, and
// checks that the page asked nothing of any other host and broke no Content-Security-Policy rule.
//
// Env: GRAPHIQL_URL (http://127.0.0.1:PORT/graphql), TOKEN (a JWT), USER_ID (its `sub`),
// CHROMIUM (default /usr/bin/chromium), GRAPHIQL_TIMEOUT_MS (default 30000, the whole run).
// Prints one JSON summary line on stdout; on failure, what the page said and did on stderr, exit 1.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const pageUrl = new URL(must('GRAPHIQL_URL'));
const token = must('TOKEN');
const userId = must('USER_ID');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const budgetMs = Number(process.env.GRAPHIQL_TIMEOUT_MS || 30000);
const started = Date.now();

function must(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`graphiql.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

// What the page did, printed when something fails.
const log = {
  console: [], // every console message: "type: text"
  pageErrors: [], // uncaught exceptions
  cspViolations: [], // securitypolicyviolation events
  failedRequests: [], // "url: reason"
  foreignRequests: [], // requests to any other host (or port) than the page's
  requests: [], // "METHOD url"
  sockets: [], // WebSocket URLs
  socketFramesSent: [], // texts sent on sockets
};
const errors = () => log.console.filter((m) => m.startsWith('error:'));

// Rejects at the first blocked resource, uncaught exception or request to another host, so that a
// wait for the editor or a result fails then, with the reason, rather than at its timeout.
let raise;
const trouble = new Promise((_, reject) => {
  raise = reject;
});
trouble.catch(() => {});
const until = (promise) => Promise.race([promise, trouble]);

function remaining() {
  return Math.max(1000, budgetMs - (Date.now() - started));
}

function checkRequest(url, what) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return;
  }
  if (parsed.protocol === 'data:' || parsed.protocol === 'blob:' || parsed.protocol === 'about:') return;
  if (parsed.host !== pageUrl.host) {
    log.foreignRequests.push(`${what} ${url}`);
    raise(new Error(`a request to another host: ${what} ${url}`));
  }
}

const profile = mkdtempSync(join(tmpdir(), 'graphiql-chromium-'));
let context;
let step = 'launch Chromium';
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: remaining(),
  });
  context.setDefaultTimeout(remaining());

  // Every request of every page and worker of this profile.
  context.on('request', (request) => {
    log.requests.push(`${request.method()} ${request.url()}`);
    checkRequest(request.url(), request.method());
  });
  context.on('requestfailed', (request) => {
    log.failedRequests.push(`${request.url()}: ${request.failure()?.errorText}`);
  });
  // The browser's own report of a blocked script, style, font or connection.
  await context.exposeFunction('__reportCspViolation', (v) => {
    log.cspViolations.push(v);
    raise(new Error(`CSP violation: ${v}`));
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });

  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => log.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => {
    log.pageErrors.push(String(e && e.stack ? e.stack : e));
    raise(new Error(`uncaught exception: ${e}`));
  });
  page.on('websocket', (ws) => {
    log.sockets.push(ws.url());
    checkRequest(ws.url(), 'WebSocket');
    ws.on('framesent', (f) => log.socketFramesSent.push(String(f.payload)));
  });

  step = `open ${pageUrl}`;
  const response = await until(page.goto(pageUrl.href, { waitUntil: 'load', timeout: remaining() }));
  if (!response || response.status() !== 200) throw new Error(`GET ${pageUrl} answered ${response?.status()}`);

  step = 'wait for GraphiQL to render its editors';
  await until(page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: remaining() }));
  await until(page.waitForSelector('.graphiql-execute-button', { timeout: remaining() }));

  step = 'put the token in the Headers tab';
  await until(page.locator('.graphiql-editor-tools button', { hasText: 'Headers' }).click({ timeout: remaining() }));
  const headers = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
  await until(headers.waitFor({ state: 'visible', timeout: remaining() }));
  await headers.evaluate(
    (el, value) => el.CodeMirror.setValue(value),
    JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2),
  );

  step = 'run { me { id } } over HTTP';
  const me = await run(page, '{ me { id } }', `"id": "${userId}"`);

  step = 'run subscription { unreadNotificationCount } over the socket';
  const count = await run(page, 'subscription { unreadNotificationCount }', '"unreadNotificationCount": 0');
  // The run button now stops the subscription.
  await until(page.click('.graphiql-execute-button', { timeout: remaining() }));

  step = 'check the socket';
  const wsUrl = `ws://${pageUrl.host}/graphql/ws`;
  if (!log.sockets.includes(wsUrl)) throw new Error(`no socket to ${wsUrl}: ${JSON.stringify(log.sockets)}`);
  const init = log.socketFramesSent.map(safeJson).find((m) => m && m.type === 'connection_init');
  if (!init || init.payload?.authorization !== `Bearer ${token}`) {
    throw new Error(`connection_init did not carry the Headers tab's token: ${JSON.stringify(init)}`);
  }

  step = 'check what the page did';
  const problems = [];
  if (log.foreignRequests.length) problems.push(`requests to other hosts: ${log.foreignRequests.join(', ')}`);
  if (log.cspViolations.length) problems.push(`CSP violations: ${log.cspViolations.join('; ')}`);
  if (log.pageErrors.length) problems.push(`page errors: ${log.pageErrors.join('; ')}`);
  if (errors().length) problems.push(`console errors: ${errors().join('; ')}`);
  if (log.failedRequests.length) problems.push(`failed requests: ${log.failedRequests.join('; ')}`);
  if (problems.length) throw new Error(problems.join('\n'));

  console.log(
    JSON.stringify({
      ok: true,
      me,
      subscription: count,
      socket: wsUrl,
      socketAuthorization: true,
      requests: log.requests.length,
      hosts: [...new Set(log.requests.map((r) => new URL(r.split(' ')[1]).host))],
      ms: Date.now() - started,
    }),
  );
} catch (e) {
  console.error(`graphiql.mjs failed at "${step}" after ${Date.now() - started} ms: ${e && e.message ? e.message : e}`);
  console.error(JSON.stringify(log, null, 2));
  try {
    const page = context?.pages()[0];
    if (page) console.error(`page text: ${(await page.locator('body').innerText({ timeout: 2000 })).slice(0, 2000)}`);
  } catch {
    // the page is gone
  }
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// Puts `query` in the query editor, presses run, waits for a new result in the result pane and
// checks that it contains `expected`; returns the result as JSON.
async function run(page, query, expected) {
  const result = page.locator('.graphiql-response .CodeMirror');
  const resultText = () => result.evaluate((el) => el.CodeMirror.getValue());
  const before = await resultText().catch(() => '');
  await page.locator('.graphiql-query-editor .CodeMirror').evaluate((el, q) => el.CodeMirror.setValue(q), query);
  await until(page.click('.graphiql-execute-button', { timeout: remaining() }));
  const handle = await until(page.waitForFunction(
    (before) => {
      const el = document.querySelector('.graphiql-response .CodeMirror');
      const text = el && el.CodeMirror ? el.CodeMirror.getValue() : '';
      return text !== '' && text !== before ? text : false;
    },
    before,
    { timeout: remaining() },
  )).catch(async (e) => {
    throw new Error(`${e.message}\nresult pane: ${await resultText().catch(() => '(none)')}`);
  });
  const text = await handle.jsonValue();
  if (!text.includes(expected)) throw new Error(`the result pane has no ${expected}: ${text}`);
  return JSON.parse(text);
}
