// What the Node.js tests and the bench share: packaging the bundle exactly as for a deploy and
// unpacking it as Lambda does, a local DynamoDB-compatible server (moto), a proxy in front of
// it that counts the DynamoDB calls on the wire, and CloudFront events of the documented shape.
// Test support only: package.sh zips index.mjs, edge.wasm and config.json, never this folder.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** edge/js: the handler, package.sh and node_modules (this file is in edge/js/test). */
export const jsDir = fileURLToPath(new URL('../', import.meta.url));
export const repoRoot = join(jsDir, '..', '..');

/** A random hex string of `bytes` bytes. */
export const randomHex = (bytes) => randomBytes(bytes).toString('hex');

export const sha256Hex = (text) => createHash('sha256').update(text).digest('hex');

/** A port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Packages the bundle with edge/js/package.sh into a temporary directory (building the wasm if
 * needed) and unpacks the zip as Lambda would. Nothing is added beside it: the handler needs
 * no package (no AWS SDK either), only Node.js's built-in modules, so a test that imports it
 * shows that the zip is all a container needs.
 */
export function packageBundle(options) {
  const work = mkdtempSync(join(tmpdir(), 'tfreg-edge-'));
  const zipPath = join(work, 'edge.zip');
  const args = [join(jsDir, 'package.sh'), '--out', zipPath];
  for (const [flag, value] of Object.entries(options)) {
    if (value !== undefined && value !== null) args.push(`--${flag}`, String(value));
  }
  const packaged = spawnSync('bash', args, { cwd: repoRoot, encoding: 'utf8' });
  if (packaged.status !== 0) {
    throw new Error(`package.sh failed (${packaged.status}):\n${packaged.stdout}${packaged.stderr}`);
  }
  const dir = join(work, 'function');
  unzip(zipPath, dir);
  return {
    work,
    dir,
    zipPath,
    zipSize: statSync(zipPath).size,
    files: readdirSync(dir).sort(),
    output: packaged.stdout.trim(),
    /** Imports the unpacked handler module (once: Node caches it, like a warm container). */
    load: () => import(pathToFileURL(join(dir, 'index.mjs')).href),
    remove: () => rmSync(work, { recursive: true, force: true }),
  };
}

function unzip(zipPath, dir) {
  const tools = [
    ['unzip', ['-q', zipPath, '-d', dir]],
    ['python3', ['-m', 'zipfile', '-e', zipPath, dir]],
  ];
  for (const [command, args] of tools) {
    const run = spawnSync(command, args, { encoding: 'utf8' });
    if (run.error?.code === 'ENOENT') continue;
    if (run.status !== 0) throw new Error(`${command} failed: ${run.stderr}`);
    return;
  }
  throw new Error('neither unzip nor python3 is installed');
}

/** Starts `moto_server` from the project's virtualenv (tests/setup.sh installs it). */
export async function startMoto() {
  const port = await freePort();
  const binary = join(repoRoot, '.venv', 'bin', 'moto_server');
  const child = spawn(binary, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    return exited;
  };
  process.once('exit', () => child.exitCode === null && child.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`moto_server exited: ${stderr}`);
    try {
      const response = await fetch(`${url}/moto-api/`);
      if (response.ok) return { url, stop };
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stop();
  throw new Error(`moto_server did not start on ${url}: ${stderr}`);
}

/**
 * An HTTP proxy in front of `target` that counts requests by their `X-Amz-Target` (the
 * DynamoDB operation), so a test can tell how many calls really went over the wire. It can
 * also answer the next N requests with a DynamoDB InternalServerError instead of forwarding.
 */
export async function startCountingProxy(target) {
  const counts = new Map();
  let failures = 0;
  const server = createServer((incoming, outgoing) => {
    const operation = String(incoming.headers['x-amz-target'] ?? '').split('.').pop() || 'other';
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
    if (failures > 0) {
      failures -= 1;
      incoming.resume();
      outgoing.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
      outgoing.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'injected by the test proxy' }));
      return;
    }
    const upstream = httpRequest(
      `${target}${incoming.url}`,
      { method: incoming.method, headers: incoming.headers },
      (response) => {
        outgoing.writeHead(response.statusCode, response.headers);
        response.pipe(outgoing);
      },
    );
    upstream.on('error', (error) => outgoing.destroy(error));
    incoming.pipe(upstream);
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    count: (operation) => counts.get(operation) ?? 0,
    failNext: (n) => {
      failures = n;
    },
    stop: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A CloudFront viewer-request event, in the shape the CloudFront Developer Guide documents
 * ("Lambda@Edge event structure"). `headers` is `{ 'Header-Name': 'value' }`.
 */
export function viewerRequestEvent({ method = 'GET', uri, querystring = '', headers = {} }) {
  const cfHeaders = {
    host: [{ key: 'Host', value: 'd111111abcdef8.cloudfront.net' }],
    'user-agent': [{ key: 'User-Agent', value: 'Terraform/1.0.3' }],
  };
  for (const [key, value] of Object.entries(headers)) {
    cfHeaders[key.toLowerCase()] = [{ key, value }];
  }
  return {
    Records: [
      {
        cf: {
          config: {
            distributionDomainName: 'd111111abcdef8.cloudfront.net',
            distributionId: 'EDFDVBD6EXAMPLE',
            eventType: 'viewer-request',
            requestId: randomBytes(42).toString('base64url'),
          },
          request: { clientIp: '203.0.113.178', headers: cfHeaders, method, querystring, uri },
        },
      },
    ],
  };
}
