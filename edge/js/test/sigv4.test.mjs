// The handler's SigV4 signer (index.mjs, signRequest) against AWS's published example and,
// request by request, against botocore's signer: moto checks no signatures, so these are what
// show that the token lookup would be accepted by DynamoDB.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packageBundle, randomHex, repoRoot } from './harness.mjs';

let bundle;
let signRequest;

// botocore's SigV4Auth at a fixed time: reads a list of requests as JSON on stdin, prints the
// headers it signed them with.
const BOTOCORE_SIGNER = `
import datetime, json, sys
from unittest import mock
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
signed = []
for case in json.load(sys.stdin):
    request = AWSRequest(method=case["method"], url=case["url"], data=case["body"].encode(), headers=case["headers"])
    when = datetime.datetime.strptime(case["date"], "%Y-%m-%dT%H:%M:%S.%fZ")
    credentials = Credentials(case["accessKeyId"], case["secretAccessKey"], case.get("sessionToken"))
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        botocore.auth.SigV4Auth(credentials, case["service"], case["region"]).add_auth(request)
    signed.append({name.lower(): value for name, value in request.headers.items()})
print(json.dumps(signed))
`;

function botocoreSign(cases) {
  const python = join(repoRoot, '.venv', 'bin', 'python');
  const run = spawnSync(python, ['-c', BOTOCORE_SIGNER], { input: JSON.stringify(cases), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

describe('the SigV4 signer of the viewer-request bundle', () => {
  before(async () => {
    bundle = packageBundle({
      table: 'tfreg-tokens',
      region: 'us-east-1',
      'origin-secret': `secret-${randomHex(16)}`,
    });
    ({ signRequest } = await bundle.load());
  });

  after(() => bundle?.remove());

  it("gives AWS's published signature for the S3 GET Object example", () => {
    // "Example: GET Object" of "Signature Calculations for the Authorization Header:
    // Transferring Payload in a Single Chunk", Amazon S3 API Reference,
    // https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
    const headers = signRequest({
      method: 'GET',
      url: 'https://examplebucket.s3.amazonaws.com/test.txt',
      headers: {
        Range: 'bytes=0-9',
        'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      },
      service: 's3',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      date: new Date('2013-05-24T00:00:00Z'),
    });
    assert.equal(headers['x-amz-date'], '20130524T000000Z');
    assert.equal(headers['x-amz-security-token'], undefined);
    assert.equal(
      headers.authorization,
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it("signs requests exactly as botocore's SigV4Auth does", () => {
    const getItem = JSON.stringify({
      TableName: 'tfreg-tokens',
      Key: { pk: { S: `token#${randomHex(32)}` } },
      ConsistentRead: true,
    });
    const dynamodbHeaders = {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': 'DynamoDB_20120810.GetItem',
    };
    const cases = [
      // The handler's own call, with a role's session credentials.
      {
        method: 'POST',
        url: 'https://dynamodb.us-east-1.amazonaws.com/',
        headers: dynamodbHeaders,
        body: getItem,
        service: 'dynamodb',
        region: 'us-east-1',
        accessKeyId: 'ASIA' + randomHex(8).toUpperCase(),
        secretAccessKey: randomHex(20),
        sessionToken: Buffer.from(randomHex(200), 'hex').toString('base64'),
        date: '2026-11-30T23:59:59.000Z',
      },
      // Long-term keys (no token), another region, a port in the host (a test endpoint).
      {
        method: 'POST',
        url: 'http://127.0.0.1:8000/',
        headers: dynamodbHeaders,
        body: getItem,
        service: 'dynamodb',
        region: 'eu-west-1',
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        date: '2024-02-29T00:00:00.000Z',
      },
      // A path with encoded characters, an unsorted query with a repeated name, a header value
      // with spaces to fold, an empty body.
      {
        method: 'GET',
        url: 'https://example.amazonaws.com/a/b%20c/%C3%BC~d?zeta=1&Alpha=two%20words&a=2&a=1&empty=',
        headers: { 'X-Amz-Meta-Note': '  several   spaces  here ', Accept: 'application/json' },
        body: '',
        service: 'service',
        region: 'ap-southeast-2',
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        sessionToken: 'token+with/slashes=',
        date: '2015-08-30T12:36:00.000Z',
      },
    ];
    const expected = botocoreSign(cases);
    cases.forEach((c, i) => {
      const ours = signRequest({
        method: c.method,
        url: c.url,
        headers: c.headers,
        body: c.body,
        service: c.service,
        region: c.region,
        credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken },
        date: new Date(c.date),
      });
      assert.match(expected[i].authorization, /^AWS4-HMAC-SHA256 Credential=.*, Signature=[0-9a-f]{64}$/);
      assert.equal(ours.authorization, expected[i].authorization, `case ${i}: ${c.method} ${c.url}`);
      assert.equal(ours['x-amz-date'], expected[i]['x-amz-date'], `case ${i}`);
      assert.equal(ours['x-amz-security-token'], expected[i]['x-amz-security-token'], `case ${i}`);
    });
  });

  it('changes the signature when anything signed changes', () => {
    const base = {
      method: 'POST',
      url: 'https://dynamodb.us-east-1.amazonaws.com/',
      headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem' },
      body: '{}',
      service: 'dynamodb',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' },
      date: new Date('2026-11-30T12:00:00Z'),
    };
    const signature = (request) => signRequest(request).authorization.split('Signature=')[1];
    const reference = signature(base);
    const variants = [
      { body: '{ }' },
      { headers: { 'x-amz-target': 'DynamoDB_20120810.PutItem' } },
      { region: 'us-west-2' },
      { date: new Date('2026-11-30T12:00:01Z') },
      { credentials: { ...base.credentials, sessionToken: 'other' } },
      { credentials: { ...base.credentials, secretAccessKey: 'secret2' } },
    ];
    for (const change of variants) {
      assert.notEqual(signature({ ...base, ...change }), reference, JSON.stringify(Object.keys(change)));
    }
  });
});
