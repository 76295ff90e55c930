// tfreg's Lambda@Edge viewer-request handler.
//
// The check itself is the Rust `edge` crate compiled to WebAssembly (edge.wasm, beside this
// file): bearer token -> tier with an LRU cache of token lookups, signed archive URLs, route ->
// tier. It does no I/O. This file loads it once per container, hands it each CloudFront event,
// and does the one thing it cannot: on a cache miss, one DynamoDB GetItem for the token's hash.
//
// Lambda@Edge has no environment variables, so the settings are baked into config.json (beside
// this file) when the bundle is packaged (edge/js/package.sh). The AWS credentials the SDK
// uses are the function role's, which the Lambda runtime itself provides.
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

import { readFileSync } from 'node:fs';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';

const here = new URL('./', import.meta.url);

/** Milliseconds the token lookup may take, retries included; the function has 5 s in all. */
const LOOKUP_DEADLINE_MS = 3000;

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

const dynamodb = new DynamoDBClient({
  region: config.region,
  // Only tests point this elsewhere (a local DynamoDB-compatible server).
  ...(config.dynamodb_endpoint ? { endpoint: config.dynamodb_endpoint } : {}),
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1000, requestTimeout: 1500, throwOnRequestTimeout: true },
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
  const { Item: item } = await dynamodb.send(
    new GetItemCommand({
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
    }),
    { abortSignal: AbortSignal.timeout(LOOKUP_DEADLINE_MS) },
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
      log({ message: 'token lookup failed', error: `${error?.name}: ${error?.message}` });
      return errorResponse(503, 'token_store_unavailable', 'the token store is unavailable; try again');
    }
    return settle(edge.complete(eventJson, first.lookup, JSON.stringify(item), nowSecs()));
  } catch (error) {
    log({ message: 'edge handler error', error: `${error?.name}: ${error?.message}` });
    if (error instanceof WebAssembly.RuntimeError) edge = new EdgeWasm(wasmModule, configJson);
    return errorResponse(500, 'edge_error', 'the registry edge check failed');
  }
}
