// The GraphQL-over-HTTP server audits of the `graphql-http` package (the spec's reference
// implementation) against our `/graphql`, over real sockets with node's fetch.
//
// Run by tests/api/graphql_audit.rs, which starts the server and passes:
//   GRAPHQL_URL  http://127.0.0.1:PORT/graphql
//
// Prints one line per audit: its id, status (ok, or graphql-http's error / warn / notice for a
// failing MUST / SHOULD / MAY), name, and for a failure the reason and what the server answered.
// Exits 1 when any MUST or SHOULD audit is not ok (MAY results are printed, not required), or when
// an audit throws (a fatal problem: the server could not be reached, ...), or after 30 s.

import { serverAudits } from 'graphql-http';

const TIMEOUT_MS = 30_000;

function fail(reason) {
  console.error(`audit FAILED: ${reason}`);
  process.exit(1);
}

const overall = setTimeout(() => fail(`timed out after ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS);
process.on('unhandledRejection', (e) => fail(`unhandled rejection: ${e?.stack ?? e}`));

const url = process.env.GRAPHQL_URL;
if (!url) fail('missing env GRAPHQL_URL');

/** What the server answered, in one line: status, content type and the start of the body. */
async function answered(response) {
  if (!response) return '';
  let body;
  try {
    body = await response.clone().text();
  } catch (e) {
    body = `(body already read: ${e.message})`;
  }
  if (body.length > 300) body = `${body.slice(0, 300)}…`;
  const type = response.headers.get('content-type') ?? '(no content-type)';
  return `${response.status} ${type} ${JSON.stringify(body)}`;
}

const audits = serverAudits({ url, fetchFn: fetch });
// One after another, so the lines come in the suite's order and the server sees one request at a time.
const results = [];
for (const { id, name, fn } of audits) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    fail(`audit ${id} "${name}" threw: ${e?.stack ?? e}`);
  }
  results.push(result);
  const level = name.split(' ')[0];
  let line = `${id} ${result.status.padEnd(6)} ${name}`;
  if (result.status !== 'ok') {
    line += `\n         reason: ${result.reason}\n         answer: ${await answered(result.response)}`;
  }
  console.log(line);
  if (!['MUST', 'SHOULD', 'MAY'].includes(level)) fail(`audit ${id} has no requirement level: ${name}`);
}
clearTimeout(overall);

const level = (r) => r.name.split(' ')[0];
const count = (lvl) => {
  const all = results.filter((r) => level(r) === lvl);
  return `${lvl} ${all.filter((r) => r.status === 'ok').length}/${all.length}`;
};
const required = results.filter((r) => level(r) !== 'MAY' && r.status !== 'ok');
const optional = results.filter((r) => level(r) === 'MAY' && r.status !== 'ok');
console.log(
  `summary: ${results.length} audits; ok: ${count('MUST')}, ${count('SHOULD')}, ${count('MAY')}` +
    (optional.length ? `; MAY not met: ${optional.map((r) => r.id).join(' ')}` : ''),
);
if (results.length === 0) fail('graphql-http returned no audits');
if (required.length) {
  fail(`${required.length} MUST/SHOULD audit(s) not ok: ${required.map((r) => `${r.id} (${r.reason})`).join('; ')}`);
}
