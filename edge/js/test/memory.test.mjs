// The edge bundle's memory under a flood of random bearer tokens, in the real Node.js runtime:
// every random token costs a cache entry, and a viewer-request function has 128 MB. The
// WebAssembly module is the packaged one; the DynamoDB read is left out (each random token is
// answered "unknown", as the store would).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packageBundle, randomHex, viewerRequestEvent } from './harness.mjs';

const VERSIONS = '/v1/modules/acme/vpc/aws/versions';
const ITEM = JSON.stringify({ token_name: 'ci', permission: 'downloader', expires_at: null });
const FLOOD = 100_000;
const MIB = 1024 * 1024;

let bundle;
let EdgeWasm;
let wasmModule;
let baseConfig;

/** A fresh WebAssembly instance with config.json changed by `settings`. */
function instance(settings = {}) {
  return new EdgeWasm(wasmModule, JSON.stringify({ ...baseConfig, ...settings }));
}

/** Runs one token through the check as the handler does; answers whether it needed a lookup. */
function decide(wasm, token, item, now) {
  const event = JSON.stringify(viewerRequestEvent({ uri: VERSIONS, headers: { Authorization: `Bearer ${token}` } }));
  const first = wasm.viewerRequest(event, now);
  assert.equal(first.error, undefined, first.error);
  if (!first.lookup) return { looked_up: false, result: first.result };
  const done = wasm.complete(event, first.lookup, item, now);
  assert.equal(done.error, undefined, done.error);
  return { looked_up: true, result: done.result };
}

describe('the edge bundle under a flood of random tokens', () => {
  before(async () => {
    bundle = packageBundle({
      table: 'tfreg-tokens',
      region: 'us-east-1',
      'origin-secret': `secret-${randomHex(16)}`,
    });
    ({ EdgeWasm } = await bundle.load());
    wasmModule = new WebAssembly.Module(readFileSync(join(bundle.dir, 'edge.wasm')));
    baseConfig = JSON.parse(readFileSync(join(bundle.dir, 'config.json'), 'utf8'));
  });

  after(() => bundle?.remove());

  it('keeps memory flat and a valid token cached, at the largest capacity allowed', () => {
    const wasm = instance({ cache_capacity: 50_000 });
    const now = Math.floor(Date.now() / 1000);
    const valid = `tfr_${randomHex(32)}`;
    assert.equal(decide(wasm, valid, ITEM, now).looked_up, true);
    const before = wasm.memoryBytes();
    for (let i = 0; i < FLOOD; i += 1) {
      const { result } = decide(wasm, `tfr_${randomHex(32)}`, 'null', now);
      assert.equal(result.status, '401');
    }
    const grown = wasm.memoryBytes() - before;
    // The unknown tokens live in their own cache of 1,000 entries: well under a MiB. One
    // cache of 50,000 would have grown by several MiB and dropped the valid token.
    assert.ok(grown < 2 * MIB, `memory grew by ${(grown / MIB).toFixed(1)} MiB`);
    assert.ok(wasm.memoryBytes() < 16 * MIB, `memory is ${(wasm.memoryBytes() / MIB).toFixed(1)} MiB`);
    assert.equal(decide(wasm, valid, ITEM, now).looked_up, false, 'the valid token is still cached');
  });

  it('refuses a cache capacity the function cannot hold', () => {
    assert.throws(() => instance({ cache_capacity: 1_000_000 }), /cache_capacity must be between 1 and 50000/);
    assert.throws(() => instance({ cache_capacity: 0 }), /cache_capacity must be between 1 and 50000/);
  });
});
