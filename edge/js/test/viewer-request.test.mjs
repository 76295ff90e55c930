// The Lambda@Edge bundle under the real Node.js runtime: packaged with package.sh, unpacked
// from its zip, its handler imported and called with CloudFront viewer-request events of the
// documented shape, and its token lookups going over the DynamoDB wire protocol to moto.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  packageBundle,
  randomHex,
  sha256Hex,
  startCountingProxy,
  startMoto,
  viewerRequestEvent,
} from './harness.mjs';

// The handler's SDK client takes its credentials from the environment, as on Lambda.
process.env.AWS_ACCESS_KEY_ID = 'testing';
process.env.AWS_SECRET_ACCESS_KEY = 'testing';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
delete process.env.AWS_PROFILE;

const TABLE = 'tfreg-tokens';
const REGION = 'us-east-1';
const ORIGIN_SECRET = `secret-${randomHex(16)}`;
const VERSIONS = '/v1/modules/acme/vpc/aws/versions';
const ARCHIVE = '/archives/acme/vpc/aws/1.2.0/module.tar.gz';

const now = () => Math.floor(Date.now() / 1000);

let moto;
let proxy;
let bundle;
let handler;
let store;

/** Stores a token item the way the origin's DynamoDB store does; returns the token value. */
async function createToken(name, permission, expiresAt, scopes) {
  const token = `tfr_${randomHex(32)}`;
  const item = {
    pk: { S: `token#${sha256Hex(token)}` },
    token_name: { S: name },
    permission: { S: permission },
    created_at: { S: new Date().toISOString() },
  };
  if (expiresAt !== undefined) item.expires_at = { N: String(expiresAt) };
  if (scopes !== undefined) item.scopes = { SS: scopes };
  await store.send(new PutItemCommand({ TableName: TABLE, Item: item }));
  return token;
}

const bearer = (token) => ({ Authorization: `Bearer ${token}` });

function header(request, name) {
  return request.headers[name]?.map((entry) => entry.value);
}

/** Asserts a generated response of the documented shape and returns its parsed body. */
function assertGenerated(result, status) {
  assert.equal(result.status, String(status), JSON.stringify(result));
  assert.equal(typeof result.statusDescription, 'string');
  assert.deepEqual(header(result, 'content-type'), ['application/json']);
  for (const [name, values] of Object.entries(result.headers)) {
    assert.equal(name, name.toLowerCase());
    for (const entry of values) assert.equal(typeof entry.value, 'string');
  }
  assert.equal(result.uri, undefined, 'a response, not the request');
  const body = JSON.parse(result.body);
  // Both shapes: the Python registry's error/message and Terraform's errors, with the code.
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'errors', 'message']);
  assert.equal(body.error, body.code);
  assert.deepEqual(body.errors, [body.message]);
  return body;
}

/** Asserts the request was passed on unchanged but for the edge's own headers. */
function assertPassed(result, event) {
  const original = event.Records[0].cf.request;
  assert.equal(result.status, undefined, JSON.stringify(result));
  assert.equal(result.uri, original.uri);
  assert.equal(result.method, original.method);
  assert.equal(result.querystring, original.querystring);
  assert.equal(result.clientIp, original.clientIp);
  const toOrigin = original.uri.startsWith('/v1/');
  for (const [name, values] of Object.entries(original.headers)) {
    if (name.startsWith('x-tfreg-')) continue;
    // The token stops at the edge: CloudFront would forward it to the origin on PUT, POST and
    // DELETE whatever the origin request policy says.
    if (name === 'authorization' && toOrigin) continue;
    assert.deepEqual(result.headers[name], values, name);
  }
  if (toOrigin) assert.equal(result.headers.authorization, undefined, 'the token reached the origin');
  return result;
}

describe('the viewer-request bundle under Node.js', () => {
  before(async () => {
    moto = await startMoto();
    proxy = await startCountingProxy(moto.url);
    store = new DynamoDBClient({ region: REGION, endpoint: moto.url });
    await store.send(
      new CreateTableCommand({
        TableName: TABLE,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    bundle = packageBundle({
      table: TABLE,
      region: REGION,
      'origin-secret': ORIGIN_SECRET,
      'dynamodb-endpoint': proxy.url,
    });
    ({ handler } = await bundle.load());
  });

  after(async () => {
    store?.destroy();
    await proxy?.stop();
    await moto?.stop();
    bundle?.remove();
  });

  it('is a zip of index.mjs, edge.wasm and config.json under 1 MB, with an import-free module', () => {
    assert.deepEqual(bundle.files, ['config.json', 'edge.wasm', 'index.mjs']);
    assert.ok(bundle.zipSize < 1024 * 1024, `${bundle.zipSize} bytes`);
    const wasm = new WebAssembly.Module(readFileSync(join(bundle.dir, 'edge.wasm')));
    assert.deepEqual(WebAssembly.Module.imports(wasm), []);
    const config = JSON.parse(readFileSync(join(bundle.dir, 'config.json'), 'utf8'));
    assert.equal(config.table, TABLE);
    assert.equal(config.positive_ttl_secs, 60);
    assert.equal(config.negative_ttl_secs, 10);
  });

  it('answers a request without a token with 401 and a Bearer challenge', async () => {
    const result = await handler(viewerRequestEvent({ uri: VERSIONS }));
    const body = assertGenerated(result, 401);
    assert.equal(body.code, 'missing_token');
    assert.equal(result.statusDescription, 'Unauthorized');
    assert.deepEqual(header(result, 'www-authenticate'), ['Bearer realm="tfreg"']);
  });

  it('passes a downloader listing versions to the origin with its identity and the origin secret', async () => {
    const token = await createToken('ci-reader', 'downloader');
    const event = viewerRequestEvent({ uri: VERSIONS, headers: bearer(token) });
    const result = assertPassed(await handler(event), event);
    assert.deepEqual(header(result, 'x-tfreg-identity'), ['token=ci-reader;tier=downloader']);
    assert.deepEqual(header(result, 'x-tfreg-origin-secret'), [ORIGIN_SECRET]);
  });

  it('refuses a downloader publishing with 403', async () => {
    const token = await createToken('ci-reader-2', 'downloader');
    const event = viewerRequestEvent({
      method: 'PUT',
      uri: '/v1/modules/acme/vpc/aws/1.0.0',
      headers: bearer(token),
    });
    const body = assertGenerated(await handler(event), 403);
    assert.equal(body.code, 'insufficient_tier');
    assert.equal(body.errors[0], 'token "ci-reader-2" has the downloader tier; this needs uploader');
  });

  it('lets an uploader publish', async () => {
    const token = await createToken('ci-publisher', 'uploader');
    const event = viewerRequestEvent({
      method: 'PUT',
      uri: '/v1/modules/acme/vpc/aws/1.0.0',
      headers: { ...bearer(token), 'Content-Type': 'application/gzip' },
    });
    const result = assertPassed(await handler(event), event);
    assert.deepEqual(header(result, 'x-tfreg-identity'), ['token=ci-publisher;tier=uploader']);
  });

  it('holds a scoped uploader to its scopes and passes them on to the origin', async () => {
    const token = await createToken('net-ci', 'uploader', undefined, ['acme/network']);
    const inside = viewerRequestEvent({
      method: 'PUT',
      uri: '/v1/modules/acme/network/aws/1.0.0',
      headers: bearer(token),
    });
    const result = assertPassed(await handler(inside), inside);
    assert.deepEqual(header(result, 'x-tfreg-identity'), [
      'token=net-ci;tier=uploader;scopes=acme/network',
    ]);
    const outside = viewerRequestEvent({
      method: 'PUT',
      uri: '/v1/modules/acme/iam/aws/1.0.0',
      headers: bearer(token),
    });
    const body = assertGenerated(await handler(outside), 403);
    assert.equal(body.code, 'out_of_scope');
  });

  it('replaces a forged identity and origin secret sent by the viewer', async () => {
    const token = await createToken('plain-reader', 'downloader');
    const forged = {
      'X-Tfreg-Identity': 'token=admin;tier=master',
      'X-Tfreg-Origin-Secret': 'a-guess',
    };
    const event = viewerRequestEvent({ uri: VERSIONS, headers: { ...bearer(token), ...forged } });
    const result = assertPassed(await handler(event), event);
    assert.deepEqual(header(result, 'x-tfreg-identity'), ['token=plain-reader;tier=downloader']);
    assert.deepEqual(header(result, 'x-tfreg-origin-secret'), [ORIGIN_SECRET]);

    // A forged identity without a token grants nothing.
    const anonymous = await handler(viewerRequestEvent({ uri: '/v1/tokens', headers: forged }));
    assert.equal(assertGenerated(anonymous, 401).code, 'missing_token');
  });

  it('encodes a token name from DynamoDB so it cannot change the tier the origin reads', async () => {
    // Names the Python registry accepted: anything but control characters and '/'.
    const names = ['x;tier=master', 'a=b, c;tier=master', 'Jürgen ✓', 'token=master', '100%'];
    for (const name of names) {
      const token = await createToken(name, 'downloader');
      const event = viewerRequestEvent({ uri: VERSIONS, headers: bearer(token) });
      const result = assertPassed(await handler(event), event);
      const [identity] = header(result, 'x-tfreg-identity');
      // One field separator, the tier last, the name percent-encoded byte by byte.
      assert.equal(identity, `token=${encodeURIComponent(name).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)};tier=downloader`);
      assert.match(identity, /^token=[A-Za-z0-9._~%-]+;tier=downloader$/);
      const fields = Object.fromEntries(identity.split(';').map((part) => part.split('=')));
      assert.equal(fields.tier, 'downloader');
      assert.equal(decodeURIComponent(fields.token), name);
      // The same token may not administer tokens: the tier is the stored one.
      const admin = await handler(viewerRequestEvent({ uri: '/v1/tokens', headers: bearer(token) }));
      const body = assertGenerated(admin, 403);
      assert.equal(body.code, 'insufficient_tier');
      assert.equal(body.message, `token ${JSON.stringify(name)} has the downloader tier; this needs master`);
    }
  });

  it('answers an unknown token with 401', async () => {
    const event = viewerRequestEvent({ uri: VERSIONS, headers: bearer(`tfr_${randomHex(32)}`) });
    const body = assertGenerated(await handler(event), 401);
    assert.equal(body.code, 'unknown_token');
  });

  it('answers an expired token with 401', async () => {
    const token = await createToken('old-ci', 'master', now() - 60);
    const event = viewerRequestEvent({ uri: VERSIONS, headers: bearer(token) });
    const result = await handler(event);
    const body = assertGenerated(result, 401);
    assert.equal(body.code, 'expired_token');
    assert.deepEqual(header(result, 'www-authenticate'), ['Bearer realm="tfreg"']);
  });

  it('passes a token that expires later', async () => {
    const token = await createToken('new-ci', 'downloader', now() + 3600);
    const event = viewerRequestEvent({ uri: VERSIONS, headers: bearer(token) });
    assertPassed(await handler(event), event);
  });

  it('refuses an archive request, signed or not, without a lookup: no behaviour runs it there', async () => {
    // CloudFront checks archive URLs itself (the trusted key group on /archives/*, with no
    // function); a function associated there by mistake refuses rather than admit them unchecked.
    const before = proxy.count('GetItem');
    const signed = `Expires=${now() + 300}&Key-Pair-Id=K2JCJMDEHXQW5F&Signature=abc~_`;
    for (const event of [
      viewerRequestEvent({ uri: ARCHIVE, querystring: signed }),
      viewerRequestEvent({ uri: ARCHIVE, headers: { Authorization: 'Bearer tfr_anything' } }),
      viewerRequestEvent({ uri: ARCHIVE }),
    ]) {
      assert.equal(assertGenerated(await handler(event), 403).code, 'archive_not_checked_at_the_edge');
    }
    assert.equal(proxy.count('GetItem'), before, 'no token lookup for an archive');
  });

  it('passes a signed mirror package request to the origin without a token or a lookup', async () => {
    // Terraform fetches a package with no token; the origin checks the URL's signature itself
    // (it made it), so the edge passes it on, with the origin secret and the query, and drops
    // any identity the viewer forged.
    const before = proxy.count('GetItem');
    const signed = `Expires=${now() + 300}&Key-Pair-Id=K2JCJMDEHXQW5F&Signature=abc~_`;
    const event = viewerRequestEvent({
      uri: '/v1/mirror/registry.terraform.io/hashicorp/random/3.6.0/linux_amd64.zip',
      querystring: signed,
      headers: { 'X-Tfreg-Identity': 'token=forged;tier=master' },
    });
    const result = assertPassed(await handler(event), event);
    assert.equal(result.querystring, signed);
    assert.deepEqual(header(result, 'x-tfreg-origin-secret'), [ORIGIN_SECRET]);
    assert.equal(result.headers['x-tfreg-identity'], undefined);
    assert.equal(proxy.count('GetItem'), before, 'no token lookup for a signed package');
  });

  it('passes discovery without a token, a lookup or the origin secret', async () => {
    const before = proxy.count('GetItem');
    const event = viewerRequestEvent({ uri: '/.well-known/terraform.json' });
    const result = assertPassed(await handler(event), event);
    assert.equal(result.headers['x-tfreg-origin-secret'], undefined);
    assert.equal(proxy.count('GetItem'), before);
  });

  it('reads a token from DynamoDB once, then answers from its cache', async () => {
    const token = await createToken('warm-path', 'downloader');
    const event = () => viewerRequestEvent({ uri: VERSIONS, headers: bearer(token) });
    const before = proxy.count('GetItem');
    assertPassed(await handler(event()), event());
    assert.equal(proxy.count('GetItem'), before + 1, 'one GetItem on the miss');
    const second = await handler(event());
    assert.deepEqual(header(second, 'x-tfreg-identity'), ['token=warm-path;tier=downloader']);
    const download = viewerRequestEvent({ uri: '/v1/modules/acme/vpc/aws/1.2.0/download', headers: bearer(token) });
    assertPassed(await handler(download), download);
    assert.equal(proxy.count('GetItem'), before + 1, 'no GetItem on the hits');

    // An unknown token is remembered too (for the shorter negative TTL).
    const unknown = () => viewerRequestEvent({ uri: VERSIONS, headers: bearer(`tfr_${'9'.repeat(64)}`) });
    assertGenerated(await handler(unknown()), 401);
    assertGenerated(await handler(unknown()), 401);
    assert.equal(proxy.count('GetItem'), before + 2);
  });

  it('answers 503 when DynamoDB fails, and caches nothing', async () => {
    const token = await createToken('unlucky', 'downloader');
    const event = () => viewerRequestEvent({ uri: VERSIONS, headers: bearer(token) });
    proxy.failNext(10);
    const failed = await handler(event());
    proxy.failNext(0);
    const body = assertGenerated(failed, 503);
    assert.equal(body.code, 'token_store_unavailable');
    const before = proxy.count('GetItem');
    const retried = await handler(event());
    assert.deepEqual(header(retried, 'x-tfreg-identity'), ['token=unlucky;tier=downloader']);
    assert.equal(proxy.count('GetItem'), before + 1, 'the failure was not cached');
  });
});
