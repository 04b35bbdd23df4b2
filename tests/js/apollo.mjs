// Apollo Client 4, as the dashboard configures it (InMemoryCache, PersistedQueryLink in front of
// HttpLink), against our `/graphql` over real sockets. A recording `fetch` keeps every request's
// method, URL and body and what came back, so each step asserts what went over the wire.
//
// Run by tests/api/apollo_client.rs, which starts the server and passes:
//   GRAPHQL_URL    http://127.0.0.1:PORT/graphql
//   TOKEN          a student's JWT (the user exists); USER_ID their id
//   MENTOR_TOKEN   a mentor's JWT (the user exists, no availability yet); MENTOR_ID their id
//
// Steps: (a) a query over POST: hash alone -> PERSISTED_QUERY_NOT_FOUND -> hash + text -> data,
// then hash alone -> data; (b) the same with useGETForHashedQueries (hashed queries as GET, the
// text still POSTed); (c) mutations through that link go POST; (d) a mutation's result lands in
// the normalized `Availability:<mentorId>` entry without a refetch; (e) a validation error is a
// CombinedGraphQLErrors with BAD_USER_INPUT; (f) a client whose hashes are wrong is refused, and
// nothing is kept under its hash.
//
// Prints the requests exchanged to stderr and one JSON summary line to stdout, and exits 0; on any
// failed expectation prints the step, the reason and the requests so far, and exits 1 (also after
// 30 s).

import { createHash } from 'node:crypto';
import { isDeepStrictEqual, inspect } from 'node:util';

import { ApolloClient, CombinedGraphQLErrors, InMemoryCache, gql, version } from '@apollo/client';
import { HttpLink } from '@apollo/client/link/http';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const TIMEOUT_MS = 30_000;
let step = 'start';
const wire = []; // every request and its answer, in order

function fail(reason) {
  console.error(`apollo FAILED at step "${step}": ${reason}`);
  console.error('requests (> sent, < received):');
  for (const exchange of wire) console.error(describeExchange(exchange));
  process.exit(1);
}

setTimeout(() => fail(`timed out after ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS).unref();
process.on('unhandledRejection', (e) => fail(`unhandled rejection: ${describeError(e)}`));
process.on('uncaughtException', (e) => fail(`uncaught exception: ${describeError(e)}`));

function env(name) {
  const value = process.env[name];
  if (!value) fail(`missing env ${name}`);
  return value;
}

function describeError(e) {
  if (CombinedGraphQLErrors.is(e)) return `CombinedGraphQLErrors ${JSON.stringify(e.errors)}`;
  if (e instanceof Error) return `${e.name}: ${e.message}${e.bodyText ? ` (body ${e.bodyText})` : ''}\n${e.stack}`;
  return inspect(e, { depth: 6 });
}

function assert(condition, message) {
  if (!condition) fail(`assertion failed: ${message}`);
}

function assertEqual(actual, expected, what) {
  if (!isDeepStrictEqual(actual, expected)) {
    fail(`${what}:\n  expected ${inspect(expected, { depth: 8 })}\n  actual   ${inspect(actual, { depth: 8 })}`);
  }
}

const GRAPHQL_URL = env('GRAPHQL_URL');
const TOKEN = env('TOKEN');
const USER_ID = env('USER_ID');
const MENTOR_TOKEN = env('MENTOR_TOKEN');
const MENTOR_ID = env('MENTOR_ID');

const sha256 = (q) => createHash('sha256').update(q).digest('hex');

/** node's fetch, recording the request and the answer (status, content type, body). */
async function recordingFetch(input, init = {}) {
  const url = new URL(typeof input === 'string' ? input : input.url);
  const exchange = {
    step,
    method: (init.method ?? 'GET').toUpperCase(),
    url: url.toString(),
    // What the request carried: the JSON body of a POST, the parameters of a GET.
    params: init.body !== undefined ? JSON.parse(init.body) : paramsOfUrl(url),
    accept: new Headers(init.headers).get('accept'),
  };
  wire.push(exchange);
  const response = await fetch(input, init);
  exchange.status = response.status;
  exchange.contentType = response.headers.get('content-type');
  exchange.cacheControl = response.headers.get('cache-control');
  exchange.answer = await response.clone().text();
  return response;
}

/** A GET's parameters as a POST body would carry them (`variables`, `extensions` are JSON). */
function paramsOfUrl(url) {
  const params = {};
  for (const [key, value] of url.searchParams) {
    params[key] = key === 'variables' || key === 'extensions' ? JSON.parse(value) : value;
  }
  return params;
}

function describeExchange(e) {
  const target = e.method === 'GET' ? e.url.slice(0, 160) : e.url;
  return (
    `  [${e.step}] > ${e.method} ${target} ${e.method === 'GET' ? '' : JSON.stringify(e.params)}\n` +
    `  [${e.step}] < ${e.status ?? '(no answer)'} ${e.contentType ?? ''} ${e.cacheControl ?? ''} ${e.answer ?? ''}`
  );
}

function client(token, { useGETForHashedQueries = false } = {}) {
  const persisted = new PersistedQueryLink({ sha256, useGETForHashedQueries });
  const http = new HttpLink({
    uri: GRAPHQL_URL,
    headers: { authorization: `Bearer ${token}` },
    fetch: recordingFetch,
  });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

/** The requests made while `run` ran. */
async function exchanges(run) {
  const from = wire.length;
  const result = await run();
  return { result, sent: wire.slice(from) };
}

/** Whitespace-insensitive, to compare the text Apollo printed with the one we wrote. */
const squash = (text) => text.replace(/\s+/g, ' ').replace(/\s*([{}():,!$])\s*/g, '$1').trim();

/**
 * Asserts the requests of one operation: `shapes` lists, per request, its method and whether it
 * carried the text; every one carries the same hash, the SHA-256 of `text` as Apollo printed it
 * (`expectedText`, with the `__typename` InMemoryCache adds). Returns the hash.
 */
function assertPersistedExchange(sent, shapes, { operationName, variables, expectedText }) {
  assertEqual(
    sent.map((e) => `${e.method} ${'query' in e.params ? 'hash+text' : 'hash'}`),
    shapes,
    'requests (method, what they carried)',
  );
  const withText = sent.find((e) => 'query' in e.params);
  const hash = withText ? sha256(withText.params.query) : sent[0].params.extensions?.persistedQuery?.sha256Hash;
  if (withText) {
    assertEqual(squash(withText.params.query), squash(expectedText), 'the text Apollo sent');
  }
  for (const [i, e] of sent.entries()) {
    const expected = {
      operationName,
      variables,
      // Apollo Client 4 names itself in every request's extensions.
      extensions: {
        clientLibrary: { name: '@apollo/client', version },
        persistedQuery: { version: 1, sha256Hash: hash },
      },
      ...('query' in e.params ? { query: withText.params.query } : {}),
    };
    assertEqual(e.params, expected, `request ${i + 1}'s parameters`);
    assertEqual(e.accept, 'application/graphql-response+json,application/json;q=0.9', `request ${i + 1}'s Accept`);
    assert(new URL(e.url).pathname === new URL(GRAPHQL_URL).pathname, `request ${i + 1} went to ${e.url}`);
    if (e.method === 'POST') {
      assertEqual(new URL(e.url).search, '', `request ${i + 1} (POST) has no query string`);
    }
  }
  return hash;
}

/** The first answer was PERSISTED_QUERY_NOT_FOUND, in the media type Apollo asked for first. */
function assertNotFound(e) {
  const body = JSON.parse(e.answer);
  assertEqual(body.errors?.[0]?.extensions?.code, 'PERSISTED_QUERY_NOT_FOUND', 'the first answer\'s code');
  assert(!('data' in body), `a PERSISTED_QUERY_NOT_FOUND answer has no data: ${e.answer}`);
  assert(
    e.contentType?.startsWith('application/graphql-response+json'),
    `PERSISTED_QUERY_NOT_FOUND came as ${e.contentType}`,
  );
  assertEqual(e.cacheControl, 'private, no-store', 'PERSISTED_QUERY_NOT_FOUND\'s Cache-Control');
  return { status: e.status, contentType: e.contentType };
}

const summary = { ok: false };
const student = client(TOKEN);

// (a) POST: hash alone, refused; hash + text; later the hash alone.
step = 'a: query over POST';
{
  const ME = gql`query Me { me { id name } }`;
  const expectedText = 'query Me { me { id name __typename } }';
  const expectedData = { me: { __typename: 'User', id: USER_ID, name: `User ${USER_ID}` } };
  const first = await exchanges(() => student.query({ query: ME, fetchPolicy: 'network-only' }));
  assertEqual(first.result.data, expectedData, 'the first run\'s data');
  assertEqual(first.result.error, undefined, 'the first run\'s error');
  const hash = assertPersistedExchange(first.sent, ['POST hash', 'POST hash+text'], {
    operationName: 'Me',
    variables: {},
    expectedText,
  });
  summary.notFound = assertNotFound(first.sent[0]);
  assertEqual(first.sent[1].status, 200, 'the status of the text\'s answer');
  const second = await exchanges(() => student.query({ query: ME, fetchPolicy: 'network-only' }));
  assertEqual(second.result.data, expectedData, 'the second run\'s data');
  assertEqual(assertPersistedExchange(second.sent, ['POST hash'], { operationName: 'Me', variables: {}, expectedText }), hash, 'the second run\'s hash');
  assertEqual(second.sent[0].status, 200, 'the status of the hash\'s answer');
  summary.post = [...first.sent, ...second.sent].map((e) => `${e.method} ${'query' in e.params ? 'hash+text' : 'hash'} ${e.status}`);
}

// (b) useGETForHashedQueries: the hash goes as GET; the text after a miss goes as POST.
step = 'b: query over GET';
const viaGet = client(TOKEN, { useGETForHashedQueries: true });
{
  const ME_GET = gql`query MeViaGet($tz: Boolean!) { me { id role timeZone @include(if: $tz) } }`;
  const expectedText = 'query MeViaGet($tz: Boolean!) { me { id role timeZone @include(if: $tz) __typename } }';
  const variables = { tz: true };
  const expectedData = { me: { __typename: 'User', id: USER_ID, role: 'STUDENT', timeZone: 'Europe/Berlin' } };
  const options = { query: ME_GET, variables, fetchPolicy: 'network-only' };
  const first = await exchanges(() => viaGet.query(options));
  assertEqual(first.result.data, expectedData, 'the first run\'s data');
  assertPersistedExchange(first.sent, ['GET hash', 'POST hash+text'], { operationName: 'MeViaGet', variables, expectedText });
  summary.notFoundGet = assertNotFound(first.sent[0]);
  const second = await exchanges(() => viaGet.query(options));
  assertEqual(second.result.data, expectedData, 'the second run\'s data');
  assertPersistedExchange(second.sent, ['GET hash'], { operationName: 'MeViaGet', variables, expectedText });
  assertEqual(second.sent[0].status, 200, 'the status of the GET hash\'s answer');
  // Per caller, so no shared cache may keep it.
  assertEqual(second.sent[0].cacheControl, 'private, no-store', 'an authorized GET\'s Cache-Control');
  summary.get = [...first.sent, ...second.sent].map((e) => `${e.method} ${'query' in e.params ? 'hash+text' : 'hash'} ${e.status}`);
}

// (c) A mutation through the GET-configured link still goes POST, hash first.
step = 'c: mutation';
{
  const MARK = gql`mutation MarkAll { markAllNotificationsRead }`;
  const expectedText = 'mutation MarkAll { markAllNotificationsRead }';
  const first = await exchanges(() => viaGet.mutate({ mutation: MARK }));
  assertEqual(first.result.data, { markAllNotificationsRead: 0 }, 'the mutation\'s data');
  assertPersistedExchange(first.sent, ['POST hash', 'POST hash+text'], { operationName: 'MarkAll', variables: {}, expectedText });
  const second = await exchanges(() => viaGet.mutate({ mutation: MARK }));
  assertEqual(second.result.data, { markAllNotificationsRead: 0 }, 'the second mutation\'s data');
  assertPersistedExchange(second.sent, ['POST hash'], { operationName: 'MarkAll', variables: {}, expectedText });
  summary.mutation = [...first.sent, ...second.sent].map((e) => `${e.method} ${'query' in e.params ? 'hash+text' : 'hash'} ${e.status}`);
}

// (d) The mutation's answer updates the normalized Availability entry the query wrote.
step = 'd: normalized cache';
{
  const mentor = client(MENTOR_TOKEN);
  const AVAILABILITY = gql`
    query MentorAvailability($mentorId: ID!) {
      availability(mentorId: $mentorId) { id mentorId blocks { id weekday start end } }
    }
  `;
  const ADD = gql`
    mutation AddBlock($input: AvailabilityBlockInput!) {
      addAvailabilityBlock(input: $input) { id mentorId blocks { id weekday start end } }
    }
  `;
  const variables = { mentorId: MENTOR_ID };
  const before = await mentor.query({ query: AVAILABILITY, variables, fetchPolicy: 'network-only' });
  assertEqual(before.data.availability.id, MENTOR_ID, 'Availability.id');
  assertEqual(before.data.availability.blocks, [], 'a new mentor\'s blocks');
  const key = `Availability:${MENTOR_ID}`;
  assertEqual(mentor.cache.extract()[key]?.blocks, [], `${key}.blocks before the mutation`);

  // A watching query, as a dashboard component would hold: it must see the change from the cache.
  const watched = mentor.watchQuery({ query: AVAILABILITY, variables, fetchPolicy: 'cache-first' });
  const seen = [];
  let sawBlock;
  const blockSeen = new Promise((resolve) => (sawBlock = resolve));
  const subscription = watched.subscribe({
    next: (result) => {
      seen.push(result.data?.availability?.blocks?.length);
      if (result.data?.availability?.blocks?.length === 1) sawBlock(result.data.availability.blocks[0]);
    },
    error: (e) => fail(`the watching query failed: ${describeError(e)}`),
  });

  const added = await exchanges(() =>
    mentor.mutate({ mutation: ADD, variables: { input: { weekday: 'MONDAY', start: '09:00', end: '10:00' } } }),
  );
  // Only the mutation went over the wire: no refetch of the availability query.
  assertEqual(
    added.sent.map((e) => `${e.method} ${e.params.operationName}`),
    ['POST AddBlock', 'POST AddBlock'],
    'requests while mutating',
  );
  const block = added.result.data.addAvailabilityBlock.blocks[0];
  assertEqual(
    { ...block, id: undefined },
    { __typename: 'AvailabilityBlock', id: undefined, weekday: 'MONDAY', start: '09:00', end: '10:00' },
    'the added block',
  );
  const entries = mentor.cache.extract();
  assertEqual(
    entries[key],
    {
      __typename: 'Availability',
      id: MENTOR_ID,
      mentorId: MENTOR_ID,
      blocks: [{ __ref: `AvailabilityBlock:${block.id}` }],
    },
    `the normalized ${key} after the mutation`,
  );
  assertEqual(entries[`AvailabilityBlock:${block.id}`], block, 'the normalized block');
  const read = mentor.readQuery({ query: AVAILABILITY, variables });
  assertEqual(read.availability.blocks, [block], 'readQuery after the mutation');
  assertEqual(await blockSeen, block, 'what the watching query saw');
  subscription.unsubscribe();
  const after = wire.length;
  // A cache-first query is now answered from the cache alone.
  const cached = await mentor.query({ query: AVAILABILITY, variables });
  assertEqual(cached.data.availability.blocks, [block], 'a cache-first query after the mutation');
  assertEqual(wire.length, after, 'requests for a cache-first query after the mutation');
  summary.cache = { key, blocks: entries[key].blocks, watched: seen };
}

// (e) A document that does not validate: CombinedGraphQLErrors with BAD_USER_INPUT.
step = 'e: validation error';
{
  const BROKEN = gql`query Broken { me { id noSuchField } }`;
  const run = await exchanges(async () => {
    try {
      const result = await student.query({ query: BROKEN, fetchPolicy: 'network-only' });
      fail(`a query that does not validate resolved: ${inspect(result, { depth: 6 })}`);
    } catch (e) {
      return e;
    }
  });
  const error = run.result;
  assert(CombinedGraphQLErrors.is(error), `expected CombinedGraphQLErrors, got ${describeError(error)}`);
  assertEqual(error.errors[0].extensions?.code, 'BAD_USER_INPUT', 'the first error\'s code');
  assert(/noSuchField/.test(error.errors[0].message), `the message names the field: ${error.errors[0].message}`);
  assertEqual(run.sent.map((e) => `${e.method} ${'query' in e.params ? 'hash+text' : 'hash'}`), ['POST hash', 'POST hash+text'], 'requests');
  const last = run.sent[1];
  assertEqual(last.status, 400, 'a validation error\'s status under application/graphql-response+json');
  assert(!('data' in JSON.parse(last.answer)), `a validation error has no data: ${last.answer}`);
  summary.validationError = { code: error.errors[0].extensions.code, message: error.errors[0].message, status: last.status };
}

// (f) A client whose sha256 is wrong (hashes something else): its text is refused, not run, and
// not kept under the wrong hash, so the next try is refused the same way.
step = 'f: wrong hash';
{
  const forger = new ApolloClient({
    link: new PersistedQueryLink({ sha256: (q) => sha256(`${q}\n# not this text`) }).concat(
      new HttpLink({ uri: GRAPHQL_URL, headers: { authorization: `Bearer ${TOKEN}` }, fetch: recordingFetch }),
    ),
    cache: new InMemoryCache(),
  });
  const FORGED = gql`query Forged { me { id email } }`;
  for (const attempt of [1, 2]) {
    const run = await exchanges(async () => {
      try {
        const result = await forger.query({ query: FORGED, fetchPolicy: 'network-only' });
        fail(`attempt ${attempt}: a text with the wrong hash ran: ${inspect(result, { depth: 6 })}`);
      } catch (e) {
        return e;
      }
    });
    const error = run.result;
    assert(CombinedGraphQLErrors.is(error), `attempt ${attempt}: expected CombinedGraphQLErrors, got ${describeError(error)}`);
    assertEqual(error.errors[0].extensions?.code, 'BAD_USER_INPUT', `attempt ${attempt}: the error's code`);
    assert(/does not match/.test(error.errors[0].message), `attempt ${attempt}: ${error.errors[0].message}`);
    assertEqual(
      run.sent.map((e) => `${e.method} ${'query' in e.params ? 'hash+text' : 'hash'} ${e.status}`),
      ['POST hash 400', 'POST hash+text 400'],
      `attempt ${attempt}: requests`,
    );
    assertNotFound(run.sent[0]);
    assert(sha256(run.sent[1].params.query) !== run.sent[1].params.extensions.persistedQuery.sha256Hash, 'the hash is wrong');
  }
  summary.wrongHash = 'refused twice, never kept';
}

step = 'done';
summary.ok = true;
summary.requests = wire.length;
for (const exchange of wire) console.error(describeExchange(exchange));
console.log(JSON.stringify(summary));
process.exit(0);
