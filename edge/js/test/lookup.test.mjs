// The token lookup of the viewer-request bundle against a local stand-in for DynamoDB that
// answers as the test says (an item, a 500, throttling, an error, silence), to show the
// handler's own DynamoDB client: what it sends and signs, its one retry, its timeouts, the
// answers it gives when the store fails, and what it logs. The bundle is unpacked with nothing
// beside it: no node_modules, so no AWS SDK to fall back on.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, packageBundle, randomHex, repoRoot, viewerRequestEvent } from './harness.mjs';

const REGION = 'us-east-1';
const TABLE = 'tfreg-tokens';
const VERSIONS = '/v1/modules/acme/vpc/aws/versions';
const ACCESS_KEY_ID = `ASIA${randomHex(8).toUpperCase()}`;
const SECRET_ACCESS_KEY = randomHex(20);
const SESSION_TOKEN = Buffer.from(randomHex(120), 'hex').toString('base64');

// The role's credentials, where the Lambda runtime puts them.
process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = SECRET_ACCESS_KEY;
process.env.AWS_SESSION_TOKEN = SESSION_TOKEN;

let standIn;
let bundle;
let handler;
let DynamoDBJsonClient;

const found = (response) => {
  response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
  response.end(JSON.stringify({ Item: { token_name: { S: 'ci' }, permission: { S: 'downloader' } } }));
};
const failure = (status, type, message) => (response) => {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
  response.end(JSON.stringify({ __type: type, message }));
};
// Holds the request open, answering nothing.
const silence = () => {};

/** A DynamoDB stand-in: each request gets the next scripted answer, then `found`. */
async function startStandIn() {
  const requests = [];
  let script = [];
  const server = createServer((request, response) => {
    const chunks = [];
    const seen = { headers: request.headers, method: request.method, url: request.url, body: null };
    requests.push(seen);
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      seen.body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      (script.shift() ?? found)(response);
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** The answers for the next requests, in order; clears what was seen. */
    answer: (...answers) => {
      script = answers;
      requests.length = 0;
    },
    stop: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const lookupEvent = () =>
  viewerRequestEvent({ uri: VERSIONS, headers: { Authorization: `Bearer tfr_${randomHex(32)}` } });

// A port whose connections never complete: a listener that never accepts, its queue filled by
// connections of its own, so the kernel drops new handshakes and a connect hangs.
const NEVER_ACCEPTS = `
import socket, time
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(0)
port = listener.getsockname()[1]
held = []
for _ in range(4):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    held.append(c)
time.sleep(0.2)
print(port, flush=True)
time.sleep(60)
`;

/** Starts a never-accepting listener; resolves to its port and a stop function. */
function startNeverAccepting() {
  const child = spawn(join(repoRoot, '.venv', 'bin', 'python'), ['-c', NEVER_ACCEPTS], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (line) => resolve({ port: Number(String(line).trim()), stop: () => child.kill() }));
  });
}

/** The handler's answer to `event` (a new token), with what it logged meanwhile. */
async function lookUp(event = lookupEvent()) {
  const lines = [];
  const original = console.error;
  console.error = (line) => lines.push(String(line));
  try {
    const result = await handler(event);
    return { result, logs: lines.join('\n') };
  } finally {
    console.error = original;
  }
}

function errorCode(result, status) {
  assert.equal(result.status, String(status), JSON.stringify(result));
  return JSON.parse(result.body).code;
}

describe('the token lookup of the viewer-request bundle', () => {
  before(async () => {
    standIn = await startStandIn();
    bundle = packageBundle({
      table: TABLE,
      region: REGION,
      'origin-secret': `secret-${randomHex(16)}`,
      'dynamodb-endpoint': standIn.url,
    });
    ({ handler, DynamoDBJsonClient } = await bundle.load());
  });

  after(async () => {
    await standIn?.stop();
    bundle?.remove();
  });

  it('loads from the zip alone and imports only built-in modules', () => {
    assert.deepEqual(bundle.files, ['config.json', 'edge.wasm', 'index.mjs']);
    const source = readFileSync(join(bundle.dir, 'index.mjs'), 'utf8');
    assert.doesNotMatch(source, /from\s+'@|(?:require|import)\(\s*'@/, 'a scoped package is loaded');
    const specifiers = [
      ...source.matchAll(/^\s*import\s[^;]*?from\s+'([^']+)'/gms),
      ...source.matchAll(/\b(?:require|import)\(\s*'([^']+)'/g),
    ].map((match) => match[1]);
    assert.ok(specifiers.length >= 3, JSON.stringify(specifiers));
    for (const specifier of specifiers) assert.match(specifier, /^node:/);
    // The lookup picks its transport with a conditional require: both are built-ins.
    assert.match(source, /require\(this\.#url\.protocol === 'http:' \? 'node:http' : 'node:https'\)/);
  });

  it('sends one signed GetItem in JSON protocol and passes the token it finds', async () => {
    standIn.answer(found);
    const { result } = await lookUp();
    assert.equal(result.status, undefined, JSON.stringify(result));
    assert.deepEqual(result.headers['x-tfreg-identity'], [{ key: 'X-Tfreg-Identity', value: 'token=ci;tier=downloader' }]);
    assert.equal(standIn.requests.length, 1);
    const [{ method, url, headers, body }] = standIn.requests;
    assert.equal(method, 'POST');
    assert.equal(url, '/');
    assert.equal(headers['content-type'], 'application/x-amz-json-1.0');
    assert.equal(headers['x-amz-target'], 'DynamoDB_20120810.GetItem');
    assert.equal(headers['x-amz-security-token'], SESSION_TOKEN);
    assert.match(headers['x-amz-date'], /^\d{8}T\d{6}Z$/);
    assert.match(
      headers.authorization,
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/\\d{8}/${REGION}/dynamodb/aws4_request, ` +
          'SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}$',
      ),
    );
    assert.ok(!JSON.stringify(headers).includes(SECRET_ACCESS_KEY), 'the secret key went over the wire');
    assert.equal(body.TableName, TABLE);
    assert.match(body.Key.pk.S, /^token#[0-9a-f]{64}$/);
    assert.equal(body.ConsistentRead, true);
    assert.equal(body.ProjectionExpression, '#name, #permission, #expires, #scopes');
    assert.deepEqual(body.ExpressionAttributeNames, {
      '#name': 'token_name',
      '#permission': 'permission',
      '#expires': 'expires_at',
      '#scopes': 'scopes',
    });
  });

  it('tries again once after a 500, throttling or a provisioned-throughput error', async () => {
    const retryable = [
      failure(500, 'com.amazonaws.dynamodb.v20120810#InternalServerError', 'Internal server error'),
      failure(400, 'com.amazonaws.dynamodb.v20120810#ThrottlingException', 'Rate of requests exceeds the allowed throughput.'),
      failure(400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', 'The level of configured provisioned throughput for the table was exceeded.'),
      failure(503, 'com.amazonaws.dynamodb.v20120810#ServiceUnavailable', 'Service unavailable'),
    ];
    for (const first of retryable) {
      standIn.answer(first, found);
      const { result } = await lookUp();
      assert.equal(result.status, undefined, JSON.stringify(result));
      assert.equal(standIn.requests.length, 2);
      // A new signature for the new attempt, on the same request.
      assert.deepEqual(standIn.requests[1].body, standIn.requests[0].body);
    }
  });

  it('answers 503 after two failed attempts, and caches nothing', async () => {
    const throttled = failure(400, 'com.amazonaws.dynamodb.v20120810#ThrottlingException', 'slow down');
    standIn.answer(throttled, throttled);
    const event = lookupEvent();
    const { result, logs } = await lookUp(event);
    assert.equal(errorCode(result, 503), 'token_store_unavailable');
    assert.equal(standIn.requests.length, 2);
    const logged = JSON.parse(logs);
    assert.equal(logged.message, 'token lookup failed');
    assert.equal(logged.error, 'ThrottlingException: slow down');
    assert.equal(logged.attempts, 2);
    standIn.answer(found);
    const again = await handler(event);
    assert.equal(again.status, undefined, 'the failure was not cached');
    assert.equal(standIn.requests.length, 1);
  });

  it('does not retry an error that will not change, and logs its DynamoDB type', async () => {
    standIn.answer(failure(400, 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException', 'Requested resource not found'));
    const { result, logs } = await lookUp();
    assert.equal(errorCode(result, 503), 'token_store_unavailable');
    assert.equal(standIn.requests.length, 1);
    assert.equal(JSON.parse(logs).error, 'ResourceNotFoundException: Requested resource not found');
  });

  it('logs a signature mismatch without the credentials it quotes', async () => {
    // AWS's answer to a bad signature quotes the canonical request, session token included.
    const message =
      'The request signature we calculated does not match the signature you provided.\n\n' +
      `The Canonical String for this request should have been\n'POST\n/\n\nx-amz-security-token:${SESSION_TOKEN}\n'` +
      ` ${SECRET_ACCESS_KEY}`;
    standIn.answer(failure(400, 'com.amazon.coral.service#InvalidSignatureException', message));
    const { result, logs } = await lookUp();
    assert.equal(errorCode(result, 503), 'token_store_unavailable');
    assert.match(logs, /InvalidSignatureException: The request signature we calculated does not match/);
    assert.ok(!logs.includes(SESSION_TOKEN), logs);
    assert.ok(!logs.includes(SECRET_ACCESS_KEY), logs);
    assert.equal(standIn.requests.length, 1);
  });

  it('keeps no part of a credential where a long message is cut short', async () => {
    // One line, the token straddling the 300 characters a log line keeps of a message.
    const message = `${'x'.repeat(280)} ${SESSION_TOKEN} ${SECRET_ACCESS_KEY}`;
    standIn.answer(failure(400, 'com.amazon.coral.service#UnrecognizedClientException', message));
    const { result, logs } = await lookUp();
    assert.equal(errorCode(result, 503), 'token_store_unavailable');
    assert.match(logs, /UnrecognizedClientException: x{280} \[redacted\]/);
    assert.ok(!logs.includes(SESSION_TOKEN.slice(0, 12)), logs);
    assert.ok(!logs.includes(SECRET_ACCESS_KEY.slice(0, 12)), logs);
  });

  it('gives up on a silent attempt after 1.5 s and tries again', async () => {
    standIn.answer(silence, found);
    const start = Date.now();
    const { result } = await lookUp();
    assert.equal(result.status, undefined, JSON.stringify(result));
    assert.equal(standIn.requests.length, 2);
    assert.ok(Date.now() - start >= 1500, `${Date.now() - start} ms`);
  });

  it('answers 503 when the store stays silent, within the 3 s deadline of the lookup', async () => {
    standIn.answer(silence, silence);
    const start = Date.now();
    const { result, logs } = await lookUp();
    const elapsed = Date.now() - start;
    assert.equal(errorCode(result, 503), 'token_store_unavailable');
    assert.equal(standIn.requests.length, 2);
    // The deadline, not a third attempt; well inside the function's 5 s.
    assert.ok(elapsed >= 2900 && elapsed < 5000, `${elapsed} ms`);
    assert.match(JSON.parse(logs).error, /^(AbortError|TimeoutError): /);
  });

  it('gives up on a connection that does not open after 1 s, twice', async () => {
    const unreachable = await startNeverAccepting();
    try {
      const client = new DynamoDBJsonClient({ region: REGION, endpoint: `http://127.0.0.1:${unreachable.port}/` });
      const error = await client.call('GetItem', { TableName: TABLE }, AbortSignal.timeout(3000)).then(
        () => assert.fail('the call succeeded'),
        (thrown) => thrown,
      );
      // Two attempts each stopped by the connect timeout, before the 3 s deadline.
      assert.equal(error.name, 'TimeoutError', String(error));
      assert.equal(error.message, 'no connection within 1000 ms');
      assert.equal(error.attempts, 2);
    } finally {
      unreachable.stop();
    }
  });

  it('answers 500 for a corrupt token item, as before', async () => {
    standIn.answer((response) => {
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify({ Item: { token_name: { S: 'ci' }, permission: { S: 'downloader' }, expires_at: { N: 'soon' } } }));
    });
    const { result } = await lookUp();
    assert.equal(errorCode(result, 500), 'corrupt_token_record');
  });

  it('answers 503 without calling DynamoDB when the role has no credentials', async () => {
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      standIn.answer();
      const { result, logs } = await lookUp();
      assert.equal(errorCode(result, 503), 'token_store_unavailable');
      assert.equal(standIn.requests.length, 0);
      assert.match(JSON.parse(logs).error, /^CredentialsError: /);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
  });
});
