// tfreg's Lambda@Edge viewer-request handler.
//
// The check itself is the Rust `edge` crate compiled to WebAssembly (edge.wasm, beside this
// file): bearer token -> tier with an LRU cache of token lookups, route -> tier (archive URLs
// are CloudFront signed URLs, checked by CloudFront itself: no function runs on them). It does
// no I/O. This file loads it once per container, hands it each CloudFront event,
// and does the one thing it cannot: on a cache miss, one DynamoDB GetItem for the token's hash.
//
// Lambda@Edge has no environment variables, so the settings are baked into config.json (beside
// this file) when the bundle is packaged (edge/js/package.sh). The DynamoDB read is signed with
// the function role's credentials, which the Lambda runtime puts in AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, by the small SigV4 signer below: no AWS SDK is
// imported, so a new container reaches its first decision in milliseconds (the SDK's import
// alone took 120-210 ms here; see edge/js/bench.mjs).
//
// Which headers reach the origin. A viewer-request function runs before CloudFront looks in
// its cache, and the request it returns is what CloudFront goes on with, so the headers it adds
// are treated like viewer headers from then on: an origin request carries only the headers
// that the cache behaviour's cache policy or origin request policy names (plus those CloudFront
// always sends, such as Host, User-Agent and X-Amz-Cf-Id). AWS says so for Lambda@Edge: "If the
// function changes cookies or headers, configure CloudFront to forward the applicable part of
// the request to the origin" (CloudFront Developer Guide, "Choose the event to trigger the
// function", https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-how-to-choose-event.html),
// and an origin request includes "All HTTP headers, cookies, and URL query strings that are
// specified in the cache policy or the origin request policy" (CloudFront API Reference,
// OriginRequestPolicy, https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_OriginRequestPolicy.html).
// So the /v1/* behaviour's origin request policy must forward x-tfreg-identity and
// x-tfreg-origin-secret (by name, or all viewer headers except Host, as a Function URL origin
// needs anyway). They belong in the origin request policy, not the cache policy: the answers
// do not depend on who asked, and the check has already run for every viewer.

import { createRequire } from 'node:module';

// Built-in modules are loaded with require, not import: an import of a built-in module reads
// every one of its exports, and on Node.js 22 `http` has a `WebSocket` export whose getter loads
// undici, 40-130 ms measured here (require: a few ms). For the same reason the lookup does not
// use fetch: its first call loads undici too (50-100 ms on Node.js 20 and 22).
const require = createRequire(import.meta.url);
const { readFileSync } = require('node:fs');
const { createHash, createHmac } = require('node:crypto');

const here = new URL('./', import.meta.url);

/** Milliseconds the token lookup may take, retries included; the function has 5 s in all. */
const LOOKUP_DEADLINE_MS = 3000;
/** Attempts at one DynamoDB call: the first and one retry (the SDK's maxAttempts 2 before). */
const MAX_ATTEMPTS = 2;
/** Milliseconds to open a connection, and of silence on an open one, per attempt. */
const CONNECT_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 1500;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The WebAssembly module's exports, as calls from JSON text to a parsed answer. Strings cross
 * as UTF-8 in the module's memory (see edge/src/wasm.rs); the clock is passed in, as a BigInt.
 */
export class EdgeWasm {
  #exports;

  /** Instantiates `module` and initialises it with the text of config.json. */
  constructor(module, configJson) {
    this.#exports = new WebAssembly.Instance(module, {}).exports;
    const answer = this.#call('init', [configJson]);
    if (answer.error) throw new Error(answer.error);
  }

  /** `{result}`, `{lookup: "<sha256 hex>"}` or `{error}`. */
  viewerRequest(eventJson, now) {
    return this.#call('viewer_request', [eventJson], BigInt(now));
  }

  /** `{result}` or `{error}`; `itemJson` is the token item found, or `"null"`. */
  complete(eventJson, tokenHash, itemJson, now) {
    return this.#call('complete', [eventJson, tokenHash, itemJson], BigInt(now));
  }

  /** Bytes of WebAssembly memory in use (it only grows), for the memory bound's tests. */
  memoryBytes() {
    return this.#exports.memory.buffer.byteLength;
  }

  #call(name, strings, ...rest) {
    const { alloc, dealloc, memory, output_ptr: outputPtr } = this.#exports;
    const buffers = strings.map((text) => {
      const bytes = encoder.encode(text);
      const ptr = alloc(bytes.length) >>> 0;
      // Read memory.buffer after each alloc: growing the memory replaces it.
      new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
      return [ptr, bytes.length];
    });
    const length = this.#exports[name](...buffers.flat(), ...rest) >>> 0;
    const output = new Uint8Array(memory.buffer, outputPtr() >>> 0, length);
    const answer = JSON.parse(decoder.decode(output));
    for (const [ptr, len] of buffers) dealloc(ptr, len);
    return answer;
  }
}

export const configJson = readFileSync(new URL('config.json', here), 'utf8');
const config = JSON.parse(configJson);
const wasmModule = new WebAssembly.Module(readFileSync(new URL('edge.wasm', here)));

// One instance per container: its token cache is what makes warm requests free of network
// calls. A trap (a bug) leaves it in an unknown state, so it is replaced then.
let edge = new EdgeWasm(wasmModule, configJson);

// --- AWS Signature Version 4 --------------------------------------------------------------
//
// Written from AWS's description of the process ("Create a signed AWS API request", IAM User
// Guide, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
// The tests check it against AWS's published S3 example and, request by request, against
// botocore's signer (edge/js/test/sigv4.test.mjs).

const sha256Hex = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

/** Percent-encodes all but the unreserved characters of RFC 3986, as SigV4 requires. */
function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The canonical URI: each segment of the (already percent-encoded, dot-segment-free) path
 * encoded once more, so twice in all, as the guide above asks for every service but S3 (which
 * encodes once); botocore does the same. DynamoDB's path is "/".
 */
function canonicalPath(pathname) {
  return pathname.split('/').map(uriEncode).join('/') || '/';
}

/** The canonical query string: names and values encoded, sorted by name, then by value. */
function canonicalQuery(search) {
  const pairs = search
    .slice(1)
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf('=');
      const [name, value] = at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
      return [uriEncode(decodeURIComponent(name)), uriEncode(decodeURIComponent(value))];
    });
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** `YYYYMMDDTHHMMSSZ`, the form of X-Amz-Date. */
const amzDate = (date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/**
 * The headers that sign a request with SigV4: the given `headers` (names in any case) plus
 * `host`, `x-amz-date`, `x-amz-security-token` when the credentials have a session token, and
 * `authorization`, all names in lower case. Every given header is signed. The payload hash is
 * the SHA-256 of `body`, or the `x-amz-content-sha256` header when one is given.
 */
export function signRequest({ method, url, headers = {}, body = '', service, region, credentials, date = new Date() }) {
  const target = new URL(url);
  const stamp = amzDate(date);
  const day = stamp.slice(0, 8);
  const signed = { host: target.host };
  for (const [name, value] of Object.entries(headers)) signed[name.toLowerCase()] = String(value);
  signed['x-amz-date'] = stamp;
  if (credentials.sessionToken) signed['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(signed).sort();
  const canonicalHeaders = names.map((name) => `${name}:${signed[name].trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    method.toUpperCase(),
    canonicalPath(target.pathname),
    canonicalQuery(target.search),
    canonicalHeaders,
    signedHeaders,
    signed['x-amz-content-sha256'] ?? sha256Hex(body),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256Hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  signed.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return signed;
}

// --- DynamoDB's JSON protocol --------------------------------------------------------------

/**
 * Which failures the SDK's standard retry tried again, and so this client does (from
 * @smithy/core 3.41's retry/service-error-classification, which the SDK used): throttling
 * error codes and HTTP 429; 500, 502, 503 and 504; timeouts; connection errors.
 */
const THROTTLING_ERRORS = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'Throttling',
  'TooManyRequestsException',
  'LimitExceededException',
]);
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);
const TRANSIENT_ERRORS = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const NETWORK_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** A failure of one DynamoDB call; `name` is DynamoDB's error type or the local failure's. */
export class DynamoDBError extends Error {
  constructor(name, message, { status, throttling = false, retryable = false, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = name;
    this.status = status;
    this.throttling = throttling;
    this.retryable = retryable;
  }
}

/** The role's credentials, as the Lambda runtime sets them (read per call: they are cheap). */
function roleCredentials() {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = process.env;
  if (!accessKeyId || !secretAccessKey) {
    throw new DynamoDBError('CredentialsError', 'no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment');
  }
  return { accessKeyId, secretAccessKey, sessionToken: process.env.AWS_SESSION_TOKEN || undefined };
}

/**
 * `text` fit for a log line: its first line, at most 300 characters, with any credential
 * value cut out. AWS's signature-mismatch messages go on to quote the canonical request, and
 * with it the session token, after the first line.
 */
function loggable(text) {
  let line = String(text ?? '');
  // Cut the values out before shortening, so that no part of one is left at the cut.
  const { AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token } = process.env;
  for (const value of [secret, token]) if (value) line = line.split(value).join('[redacted]');
  return line.split('\n')[0].slice(0, 300);
}

/** The DynamoDBError for an answer other than 200: DynamoDB's `__type` and `message`. */
function serviceError(status, text) {
  let name = `Http${status}`;
  let message = `DynamoDB answered ${status}`;
  try {
    const body = JSON.parse(text);
    if (typeof body.__type === 'string') name = body.__type.split('#').pop();
    const detail = body.message ?? body.Message;
    if (typeof detail === 'string') message = detail;
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  const throttling = status === 429 || THROTTLING_ERRORS.has(name);
  const retryable = throttling || TRANSIENT_STATUS.has(status) || TRANSIENT_ERRORS.has(name);
  return new DynamoDBError(name, loggable(message), { status, throttling, retryable });
}

/** A failure below HTTP (timeout, refused, reset), retryable as the SDK's were. */
function transportError(error) {
  if (error instanceof DynamoDBError) return error;
  if (error?.name === 'AbortError') {
    return new DynamoDBError('AbortError', `the lookup's ${LOOKUP_DEADLINE_MS} ms deadline passed`, { cause: error });
  }
  const retryable = NETWORK_ERROR_CODES.has(error?.code);
  const name = error?.code ?? error?.name ?? 'Error';
  return new DynamoDBError(name, loggable(error?.message), { retryable, cause: error });
}

/**
 * A client of DynamoDB's JSON protocol (`POST /`, `X-Amz-Target: DynamoDB_20120810.<op>`),
 * signed with the role's credentials, over node:http(s) with a keep-alive agent: one retry of
 * retryable failures after a jittered pause (up to 50 ms, or 1 s after throttling: the SDK's
 * standard retry, same source), per attempt 1 s to connect and 1.5 s of silence at most.
 */
export class DynamoDBJsonClient {
  #url;
  #region;
  #transport;
  #agent;

  constructor({ region, endpoint }) {
    this.#region = region;
    // DynamoDB's regional endpoints (AWS General Reference, "Amazon DynamoDB endpoints and
    // quotas", https://docs.aws.amazon.com/general/latest/gr/ddb.html).
    const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    this.#url = new URL(endpoint ?? `https://dynamodb.${region}.${suffix}/`);
  }

  /** The parsed answer of `operation` with `payload`, or a DynamoDBError. */
  async call(operation, payload, signal) {
    const body = JSON.stringify(payload);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#send(operation, body, signal);
      } catch (thrown) {
        const error = transportError(thrown);
        error.attempts = attempt;
        if (attempt >= MAX_ATTEMPTS || signal.aborted || !error.retryable) throw error;
        const pause = Math.floor(Math.random() * (error.throttling ? 1000 : 50));
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  #send(operation, body, signal) {
    if (!this.#transport) {
      this.#transport = require(this.#url.protocol === 'http:' ? 'node:http' : 'node:https');
      this.#agent = new this.#transport.Agent({ keepAlive: true, maxSockets: 50 });
    }
    const headers = signRequest({
      method: 'POST',
      url: this.#url,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${operation}`,
      },
      body,
      service: 'dynamodb',
      region: this.#region,
      credentials: roleCredentials(),
    });
    headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise((resolve, reject) => {
      const request = this.#transport.request(this.#url, { method: 'POST', headers, agent: this.#agent, signal });
      const fail = (name, message) => request.destroy(new DynamoDBError(name, message, { retryable: true }));
      request.once('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => fail('TimeoutError', `no connection within ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS);
        socket.once('connect', () => clearTimeout(timer));
        request.once('close', () => clearTimeout(timer));
      });
      // Node arms this once the socket is connected: silence, not the whole exchange.
      request.setTimeout(REQUEST_TIMEOUT_MS, () => fail('TimeoutError', `no answer for ${REQUEST_TIMEOUT_MS} ms`));
      request.on('error', reject);
      request.once('response', (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('error', reject);
        response.once('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200) return reject(serviceError(response.statusCode, text));
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new DynamoDBError('SerializationError', 'DynamoDB answered 200 with a body that is not JSON'));
          }
        });
      });
      request.end(body);
    });
  }
}

const dynamodb = new DynamoDBJsonClient({
  region: config.region,
  // Only tests point this elsewhere (a local DynamoDB-compatible server).
  endpoint: config.dynamodb_endpoint ?? undefined,
});

const nowSecs = () => Math.floor(Date.now() / 1000);

const STATUS_TEXT = { 500: 'Internal Server Error', 503: 'Service Unavailable' };

/**
 * A generated response with the registry's error body, the shape of `error_body` in the edge
 * crate (edge/src/error_body.rs): the Python registry's `error`/`message`, Terraform's
 * `errors`, and the `code`. Written out here because these answers are for when the
 * WebAssembly module itself failed.
 */
function errorResponse(status, code, message) {
  return {
    status: String(status),
    statusDescription: STATUS_TEXT[status] ?? 'Error',
    headers: {
      'cache-control': [{ key: 'Cache-Control', value: 'no-store' }],
      'content-type': [{ key: 'Content-Type', value: 'application/json' }],
    },
    body: JSON.stringify({ error: code, message, errors: [message], code }),
  };
}

function log(fields) {
  console.error(JSON.stringify(fields));
}

class TokenItemError extends Error {}

/**
 * The token item stored under `tokenHash`, or null. The item's shape is the contract with the
 * origin's DynamoDB token store: key `pk` = "token#<sha256 hex>", `token_name` (S),
 * `permission` (S: downloader | uploader | master), `expires_at` (N, Unix seconds, optional),
 * `scopes` (SS of module prefixes, optional).
 */
async function readTokenItem(tokenHash) {
  const { Item: item } = await dynamodb.call(
    'GetItem',
    {
      TableName: config.table,
      Key: { pk: { S: `token#${tokenHash}` } },
      // A token used right after it was created must be found, not cached as unknown.
      ConsistentRead: true,
      ProjectionExpression: '#name, #permission, #expires, #scopes',
      ExpressionAttributeNames: {
        '#name': 'token_name',
        '#permission': 'permission',
        '#expires': 'expires_at',
        '#scopes': 'scopes',
      },
    },
    AbortSignal.timeout(LOOKUP_DEADLINE_MS),
  );
  if (!item) return null;
  let expiresAt = null;
  if (item.expires_at?.N !== undefined) {
    expiresAt = Number(item.expires_at.N);
    // NaN would serialise as null, "never expires": refuse it instead.
    if (!Number.isFinite(expiresAt) || expiresAt < 0) {
      throw new TokenItemError('expires_at is not a number of seconds');
    }
    expiresAt = Math.floor(expiresAt);
  }
  // A string set; absent for a token without scopes (DynamoDB has no empty sets).
  const scopes = item.scopes?.SS ?? [];
  return {
    token_name: item.token_name?.S,
    permission: item.permission?.S,
    expires_at: expiresAt,
    scopes,
  };
}

function settle(answer) {
  if (answer.result) return answer.result;
  log({ message: 'edge check failed', error: answer.error });
  return errorResponse(500, 'edge_error', 'the registry edge check failed');
}

/** The viewer-request handler: the request to pass on, or a response for the viewer. */
export async function handler(event) {
  const eventJson = JSON.stringify(event);
  try {
    const first = edge.viewerRequest(eventJson, nowSecs());
    if (first.lookup === undefined) return settle(first);
    let item;
    try {
      item = await readTokenItem(first.lookup);
    } catch (error) {
      // Nothing is cached: the next request asks the store again.
      if (error instanceof TokenItemError) {
        log({ message: 'token item is corrupt', error: error.message });
        return errorResponse(500, 'corrupt_token_record', 'the stored token record is not valid');
      }
      log({
        message: 'token lookup failed',
        error: `${error?.name}: ${loggable(error?.message)}`,
        status: error?.status,
        attempts: error?.attempts,
      });
      return errorResponse(503, 'token_store_unavailable', 'the token store is unavailable; try again');
    }
    return settle(edge.complete(eventJson, first.lookup, JSON.stringify(item), nowSecs()));
  } catch (error) {
    log({ message: 'edge handler error', error: `${error?.name}: ${error?.message}` });
    if (error instanceof WebAssembly.RuntimeError) edge = new EdgeWasm(wasmModule, configJson);
    return errorResponse(500, 'edge_error', 'the registry edge check failed');
  }
}
