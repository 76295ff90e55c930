// Measures the Lambda@Edge bundle under Node.js: the cold start of a container (module load,
// and module load to the first decision when that decision needs a DynamoDB lookup, answered by
// a local stand-in), WebAssembly instantiation, the edge decision per request on a token-cache
// hit and on a miss (check + complete, the DynamoDB call left out), and the zip size. Prints numbers; asserts nothing.
//
//   node edge/js/bench.mjs        (or: cd edge/js && npm run bench)
//
// It packages its own bundle with package.sh (throwaway keys) into a temporary directory. The
// cold-start rows run each sample in a new Node.js process, as a new container would; the
// last two rows measure, the same way, the two ways of making the lookup that the handler does
// not take (the AWS SDK imported when the first lookup needs it, and fetch), for comparison.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { freePort, jsDir, packageBundle, randomHex, viewerRequestEvent } from './test/harness.mjs';

process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';

const VERSIONS = '/v1/modules/acme/vpc/aws/versions';
const ITEM = JSON.stringify({ token_name: 'bench', permission: 'downloader', expires_at: null });
const now = () => Math.floor(Date.now() / 1000);

/** Microseconds per call of `run(i)` over `n` calls, after a warm-up. */
async function perCall(n, run) {
  for (let i = 0; i < Math.min(n, 2000); i += 1) await run(i);
  const start = performance.now();
  for (let i = 0; i < n; i += 1) await run(i);
  return ((performance.now() - start) * 1000) / n;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const COLD_SAMPLES = 9;

// What runs in each new process. `performance.now()` counts from the process's start, so the
// first figure is Node.js's own start-up, the others are measured from the module load. `cpu`
// is the process's CPU time (all its threads) over the same span as `decision`: on a machine
// shared with other work, wall times include waiting for a core, CPU time does not.
const COLD_SCRIPTS = {
  // The handler: import index.mjs, then one request whose token needs a lookup.
  handler: `
    const start = performance.now();
    const cpu = process.cpuUsage();
    const { handler } = await import(process.argv[1]);
    const loaded = performance.now();
    const result = await handler(JSON.parse(process.argv[2]));
    if (result.status !== undefined) throw new Error(JSON.stringify(result));
    const used = process.cpuUsage(cpu);
    console.log(JSON.stringify({ start, load: loaded - start, decision: performance.now() - start, cpu: (used.user + used.system) / 1000 }));`,
  // The alternative: the SDK imported on the first miss, its client built, one GetItem.
  sdk: `
    const start = performance.now();
    const cpu = process.cpuUsage();
    const { DynamoDBClient, GetItemCommand } = await import(process.argv[3]);
    const loaded = performance.now();
    const client = new DynamoDBClient({ region: 'us-east-1', endpoint: process.argv[4], maxAttempts: 2,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 1500, throwOnRequestTimeout: true } });
    await client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'token#0' } }, ConsistentRead: true }));
    const used = process.cpuUsage(cpu);
    console.log(JSON.stringify({ start, load: loaded - start, decision: performance.now() - start, cpu: (used.user + used.system) / 1000 }));`,
  // fetch's first call (it loads undici on first use), one POST to the same stand-in.
  fetch: `
    const start = performance.now();
    const cpu = process.cpuUsage();
    const response = await fetch(process.argv[4], { method: 'POST', body: '{}',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' } });
    await response.json();
    const used = process.cpuUsage(cpu);
    console.log(JSON.stringify({ start, load: 0, decision: performance.now() - start, cpu: (used.user + used.system) / 1000 }));`,
};

/**
 * Medians over COLD_SAMPLES new processes of `COLD_SCRIPTS[kind]`, one after another (not a
 * blocking spawn: the stand-in answering them runs in this process).
 */
async function coldStart(kind, args) {
  const samples = [];
  for (let i = 0; i < COLD_SAMPLES; i += 1) {
    const argv = ['--no-warnings', '--input-type=module', '-e', COLD_SCRIPTS[kind], ...args(i)];
    const { stdout } = await promisify(execFile)(process.execPath, argv, { encoding: 'utf8' });
    samples.push(JSON.parse(stdout.trim().split('\n').pop()));
  }
  const pick = (field) => median(samples.map((sample) => sample[field]));
  const range = (field) => {
    const values = samples.map((sample) => sample[field]);
    return `${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)}`;
  };
  return {
    start: pick('start'),
    load: pick('load'),
    decision: pick('decision'),
    cpu: pick('cpu'),
    loadRange: range('load'),
    decisionRange: range('decision'),
  };
}

// A stand-in for DynamoDB that finds every token, so the real handler's cache can be warmed.
const stubPort = await freePort();
const stub = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
    response.end(JSON.stringify({
      Item: { token_name: { S: 'bench' }, permission: { S: 'downloader' } },
    }));
  });
});
await new Promise((resolve) => stub.listen(stubPort, '127.0.0.1', resolve));

const bundle = packageBundle({
  table: 'tfreg-tokens',
  region: 'us-east-1',
  'origin-secret': `bench-${randomHex(16)}`,
  'dynamodb-endpoint': `http://127.0.0.1:${stubPort}`,
});

try {
  const wasmBytes = readFileSync(join(bundle.dir, 'edge.wasm'));
  const token = `tfr_${randomHex(32)}`;
  const hitEvent = viewerRequestEvent({ uri: VERSIONS, headers: { Authorization: `Bearer ${token}` } });

  const loadStart = performance.now();
  const { handler, EdgeWasm, configJson } = await bundle.load();
  const moduleLoadMs = performance.now() - loadStart;
  await handler(hitEvent); // the miss: one call to the stub
  const firstDecisionMs = performance.now() - loadStart;

  const indexUrl = pathToFileURL(join(bundle.dir, 'index.mjs')).href;
  const sdkUrl = pathToFileURL(join(jsDir, 'node_modules', '@aws-sdk', 'client-dynamodb', 'dist-cjs', 'index.js')).href;
  const stubUrl = `http://127.0.0.1:${stubPort}`;
  const coldArgs = () => [
    indexUrl,
    JSON.stringify(viewerRequestEvent({ uri: VERSIONS, headers: { Authorization: `Bearer tfr_${randomHex(32)}` } })),
    sdkUrl,
    stubUrl,
  ];
  const cold = await coldStart('handler', coldArgs);
  const coldSdk = await coldStart('sdk', coldArgs);
  const coldFetch = await coldStart('fetch', coldArgs);

  // V8 compiles WebAssembly lazily, function by function, on first call: a cold container
  // pays for it on its first request, not at instantiation. Only the first of these runs
  // cold; V8 then shares the compiled code between modules of the same bytes.
  const firstCallMs = [];
  for (let i = 0; i < 20; i += 1) {
    const fresh = new EdgeWasm(new WebAssembly.Module(wasmBytes), configJson);
    const json = JSON.stringify(viewerRequestEvent({ uri: VERSIONS, headers: { Authorization: `Bearer tfr_${randomHex(32)}` } }));
    const start = performance.now();
    const first = fresh.viewerRequest(json, now());
    fresh.complete(json, first.lookup, ITEM, now());
    firstCallMs.push(performance.now() - start);
  }

  // Compile + instantiate + init, as a cold container does once.
  const instantiateMs = [];
  for (let i = 0; i < 20; i += 1) {
    const start = performance.now();
    new EdgeWasm(new WebAssembly.Module(wasmBytes), configJson);
    instantiateMs.push(performance.now() - start);
  }

  // The whole handler on a hit (event to JSON, the wasm call, the answer back to an object).
  const handlerHit = await perCall(50_000, () => handler(hitEvent));

  // The wasm decision alone, through the same marshalling the handler uses.
  const edge = new EdgeWasm(new WebAssembly.Module(wasmBytes), configJson);
  const hitJson = JSON.stringify(hitEvent);
  const warm = edge.viewerRequest(hitJson, now());
  edge.complete(hitJson, warm.lookup, ITEM, now());
  const decisionHit = await perCall(50_000, () => edge.viewerRequest(JSON.stringify(hitEvent), now()));

  // A miss: a token the cache has not seen, then complete with the item (no DynamoDB call).
  const missEvents = Array.from({ length: 30_000 }, () =>
    viewerRequestEvent({ uri: VERSIONS, headers: { Authorization: `Bearer tfr_${randomHex(32)}` } }),
  );
  const decisionMiss = await perCall(missEvents.length - 2000, (i) => {
    const json = JSON.stringify(missEvents[i]);
    const first = edge.viewerRequest(json, now());
    return edge.complete(json, first.lookup, ITEM, now());
  });

  const rows = [
    ['node', process.version],
    ['zip size (dist/edge.zip layout)', `${bundle.zipSize} bytes (${(bundle.zipSize / 1024).toFixed(1)} KiB; limit 1 MiB)`],
    ['edge.wasm', `${wasmBytes.length} bytes uncompressed`],
    ['handler module load (config + wasm compile + init), once, in this process', `${moduleLoadMs.toFixed(1)} ms`],
    ['module load to first decision, a miss with a lookup (local stand-in), in this process', `${firstDecisionMs.toFixed(1)} ms`],
    [`new process (median of ${COLD_SAMPLES}): Node.js start-up before the module load`, `${cold.start.toFixed(1)} ms`],
    ['new process: handler module load', `${cold.load.toFixed(1)} ms (${cold.loadRange})`],
    ['new process: module load to first decision, a miss with a lookup', `${cold.decision.toFixed(1)} ms (${cold.decisionRange}); CPU ${cold.cpu.toFixed(1)} ms`],
    ['new process, not taken: SDK import on the first miss + GetItem', `${coldSdk.decision.toFixed(1)} ms (import ${coldSdk.load.toFixed(1)} ms); CPU ${coldSdk.cpu.toFixed(1)} ms`],
    ['new process, not taken: first fetch() to the stand-in', `${coldFetch.decision.toFixed(1)} ms (${coldFetch.decisionRange}); CPU ${coldFetch.cpu.toFixed(1)} ms`],
    ['WebAssembly compile + instantiate + init', `${median(instantiateMs).toFixed(2)} ms median, ${instantiateMs[0].toFixed(2)} ms first`],
    ['first miss decision of a cold instance (lazy compile)', `${firstCallMs[0].toFixed(2)} ms, then ${median(firstCallMs).toFixed(2)} ms`],
    ['handler(event), token cache hit', `${handlerHit.toFixed(1)} µs`],
    ['edge decision, token cache hit', `${decisionHit.toFixed(1)} µs`],
    ['edge decision, cache miss (check + complete, DynamoDB excluded)', `${decisionMiss.toFixed(1)} µs`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  for (const [name, value] of rows) console.log(`${name.padEnd(width)}  ${value}`);
} finally {
  stub.close();
  bundle.remove();
}
