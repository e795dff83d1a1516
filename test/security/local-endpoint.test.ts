/**
 * Issue 12, section 4: a web page tries to use the developer's local endpoint. The page's requests
 * are played by raw HTTP requests with the headers a browser would send (a DNS-rebinding page
 * sends its own host name in Host; any page sends its Origin), and what the page gets back is
 * recorded and searched for the secret. A rotation function registered with the endpoint records
 * whether it was made to run. The same attacks run against `secrets-rotator local-endpoint`.
 */
import { request } from 'node:http';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RotationEvent } from '../../src/core/event.ts';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../src/testing/index.ts';
import { MAX_REQUEST_BODY_BYTES } from '../../src/testing/request-guard.ts';
import { startCliEndpoint } from '../cli/run.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { credentialsIn, recordAttack } from './support/ledger.ts';

const SECRET_VALUE = `local-secret-${Math.random().toString(36).slice(2)}`;
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:page-target';

/** What a page received for one request. */
interface PageAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** Sends what a browser page would; resolves with what the page can read (or status 0 on a reset). */
function pageRequest(
  endpoint: string,
  options: {
    host?: string;
    origin?: string;
    method?: string;
    target?: string;
    body?: string | Buffer;
    contentType?: string;
    contentLength?: number;
    chunked?: boolean;
  },
): Promise<PageAnswer> {
  const url = new URL(endpoint);
  const headers: Record<string, string | number> = {
    'content-type': options.contentType ?? 'application/x-amz-json-1.1',
  };
  if (options.host !== undefined) headers.host = options.host;
  if (options.origin !== undefined) headers.origin = options.origin;
  if (options.target) headers['x-amz-target'] = `secretsmanager.${options.target}`;
  if (options.contentLength !== undefined) headers['content-length'] = options.contentLength;
  else if (!options.chunked && options.body !== undefined)
    headers['content-length'] = Buffer.byteLength(options.body);
  return new Promise((resolve) => {
    const outgoing = request(
      {
        host: url.hostname,
        port: url.port,
        path: '/',
        method: options.method ?? 'POST',
        headers,
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
      },
    );
    outgoing.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    outgoing.end(options.body);
  });
}

let sm: LocalSecretsManager;
let secretArn: string;
const invocations: RotationEvent[] = [];

beforeAll(async () => {
  sm = await startLocalSecretsManager({
    rotation: 'inline',
    allowedOrigins: ['http://localhost:3000'],
    allowedHosts: ['devbox.internal'],
  });
  sm.registerRotationFunction(FUNCTION_ARN, async (event) => {
    invocations.push(event);
  });
  trackSecrets(SECRET_VALUE);
  const created = await sm
    .client()
    .send(new CreateSecretCommand({ Name: 'dev/api-key', SecretString: SECRET_VALUE }));
  secretArn = created.ARN!;
});

afterAll(async () => {
  await sm?.close();
});

const port = () => new URL(sm.endpoint).port;

/** The operations a page would try, each as (target, body). */
const PAGE_OPERATIONS: ReadonlyArray<readonly [string, () => Record<string, unknown>]> = [
  ['GetSecretValue', () => ({ SecretId: 'dev/api-key' })],
  ['ListSecrets', () => ({})],
  ['BatchGetSecretValue', () => ({ SecretIdList: ['dev/api-key'] })],
  ['RotateSecret', () => ({ SecretId: secretArn, RotationLambdaARN: FUNCTION_ARN })],
];

async function attack(
  name: string,
  send: (target: string, body: string) => Promise<PageAnswer>,
  refusedWith: number,
): Promise<void> {
  for (const [target, input] of PAGE_OPERATIONS) {
    const callsBefore = sm.calls.length;
    const invokedBefore = invocations.length;
    const answer = await send(target, JSON.stringify(input()));
    const leaked = credentialsIn([answer.body, JSON.stringify(answer.headers)], [SECRET_VALUE]);
    const blocked =
      answer.status === refusedWith &&
      sm.calls.length === callsBefore &&
      invocations.length === invokedBefore;
    recordAttack({ attack: `local endpoint: ${name} (${target})`, blocked, leaked: leaked.length });
    expect(answer.status).toBe(refusedWith);
    expect(JSON.parse(answer.body).__type).toBe('AccessDeniedException');
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect(leaked).toEqual([]);
    // Never reached the service: not recorded, no rotation function run.
    expect(sm.calls.length).toBe(callsBefore);
    expect(invocations.length).toBe(invokedBefore);
  }
}

describe('a DNS-rebinding page (its own name in Host) is refused', () => {
  it.each([
    'rebind.attacker.test:PORT',
    'attacker.test',
    '127.0.0.1.attacker.test:PORT',
    '0.0.0.0:PORT',
    '192.168.1.20:PORT',
    'localhost.attacker.test:PORT',
    'evil@127.0.0.1:PORT',
  ])('Host %s', async (host) => {
    await attack(
      `DNS rebinding, Host ${host}`,
      (target, body) => pageRequest(sm.endpoint, { host: host.replace('PORT', port()), target, body }),
      403,
    );
  });

  it('names the problem and the fix', async () => {
    const answer = await pageRequest(sm.endpoint, {
      host: `rebind.attacker.test:${port()}`,
      target: 'ListSecrets',
      body: '{}',
    });
    expect(JSON.parse(answer.body).message).toMatch(
      /serves only this machine: Host "rebind\.attacker\.test:\d+" is not a loopback name .* --allow-host NAME/,
    );
  });
});

describe('a page from a foreign origin is refused', () => {
  it.each(['https://evil.example', 'http://localhost:3001', 'null', 'http://127.0.0.1.evil.example'])(
    'Origin %s',
    async (origin) => {
      await attack(
        `foreign Origin ${origin}`,
        // A "simple" request (text/plain) needs no preflight: only the Origin check stops it.
        (target, body) =>
          pageRequest(sm.endpoint, {
            host: `127.0.0.1:${port()}`,
            origin,
            target,
            body,
            contentType: 'text/plain',
          }),
        403,
      );
    },
  );

  it('a preflight from a foreign origin gets no CORS permission', async () => {
    const answer = await pageRequest(sm.endpoint, {
      host: `localhost:${port()}`,
      origin: 'https://evil.example',
      method: 'OPTIONS',
    });
    recordAttack({
      attack: 'local endpoint: CORS preflight from a foreign origin',
      blocked: answer.status === 403 && answer.headers['access-control-allow-origin'] === undefined,
      leaked: 0,
    });
    expect(answer.status).toBe(403);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('oversized bodies are refused unread', () => {
  it.each([
    ['declared by Content-Length', { contentLength: 50 * 1024 * 1024, body: Buffer.alloc(64 * 1024, 'a') }],
    [
      'sent chunked, with no length',
      { chunked: true, body: Buffer.alloc(MAX_REQUEST_BODY_BYTES + 4096, 'a') },
    ],
  ] as const)('%s', async (how, options) => {
    const callsBefore = sm.calls.length;
    const answer = await pageRequest(sm.endpoint, {
      host: `127.0.0.1:${port()}`,
      target: 'CreateSecret',
      ...options,
    });
    const stillServing = await sm.client().send(new GetSecretValueCommand({ SecretId: 'dev/api-key' }));
    recordAttack({
      attack: `local endpoint: body over ${MAX_REQUEST_BODY_BYTES} bytes, ${how}`,
      blocked: (answer.status === 413 || answer.status === 0) && sm.calls.length === callsBefore + 1,
      leaked: credentialsIn([answer.body], [SECRET_VALUE]).length,
    });
    // The refusal arrives, or the connection is cut while the client is still sending.
    if (answer.status !== 0) {
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body).__type).toBe('RequestEntityTooLargeException');
    }
    // Only the GetSecretValue above reached the service.
    expect(sm.calls.length).toBe(callsBefore + 1);
    expect(stillServing.SecretString).toBe(SECRET_VALUE);
  });

  it('a body at the limit is still read', async () => {
    const name = 'dev/large';
    const value = 'v'.repeat(65_536);
    const answer = await pageRequest(sm.endpoint, {
      host: `127.0.0.1:${port()}`,
      target: 'CreateSecret',
      body: JSON.stringify({ Name: name, SecretString: value }),
    });
    expect(answer.status).toBe(200);
  });
});

describe('what stays allowed', () => {
  it('the SDK (no Origin), loopback names, the listen address and allowed names are served', async () => {
    const answer = await sm.client().send(new GetSecretValueCommand({ SecretId: 'dev/api-key' }));
    expect(answer.SecretString).toBe(SECRET_VALUE);
    for (const host of [
      `127.0.0.1:${port()}`,
      `localhost:${port()}`,
      `LOCALHOST.:${port()}`,
      `[::1]:${port()}`,
      `devbox.internal:${port()}`,
    ]) {
      const page = await pageRequest(sm.endpoint, { host, target: 'ListSecrets', body: '{}' });
      expect(page.status, host).toBe(200);
    }
  });

  it('an allowed origin is served, with CORS headers, preflight included', async () => {
    const preflight = await pageRequest(sm.endpoint, {
      host: `localhost:${port()}`,
      origin: 'http://localhost:3000',
      method: 'OPTIONS',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    const page = await pageRequest(sm.endpoint, {
      host: `localhost:${port()}`,
      origin: 'http://localhost:3000',
      target: 'ListSecrets',
      body: '{}',
    });
    expect(page.status).toBe(200);
    expect(page.headers['access-control-allow-origin']).toBe('http://localhost:3000');
  });

  it('listening beyond loopback warns; loopback does not', async () => {
    const warnings: string[] = [];
    const open = await startLocalSecretsManager({
      host: '0.0.0.0',
      onWarning: (line) => warnings.push(line),
    });
    await open.close();
    expect(warnings).toEqual([
      expect.stringMatching(/listens on 0\.0\.0\.0, beyond this machine: anyone who can reach/),
    ]);
    const quiet: string[] = [];
    const local = await startLocalSecretsManager({ onWarning: (line) => quiet.push(line) });
    await local.close();
    expect(quiet).toEqual([]);
  });

  it('refuses an allowedOrigins entry that is not an origin', async () => {
    await expect(startLocalSecretsManager({ allowedOrigins: ['localhost:3000/app'] })).rejects.toThrow(
      /allowedOrigins: "localhost:3000\/app" is not an origin/,
    );
  });
});

describe('secrets-rotator local-endpoint', () => {
  it('refuses rebinding and foreign origins, serves --allow-origin, warns about --host 0.0.0.0', async () => {
    const running = await startCliEndpoint(
      [
        '--port',
        '0',
        '--host',
        '0.0.0.0',
        '--allow-origin',
        'http://localhost:5173',
        '--rotation-function',
        'page-target=random-secret',
      ],
      { env: { PASSWORD_GENERATOR: 'local' } },
    );
    // It listens on every address; the page and the client reach it on loopback.
    const cliPort = new URL(running.endpoint).port;
    const endpoint = `http://127.0.0.1:${cliPort}`;
    const client = running.client({ endpoint });
    const value = `cli-secret-${Math.random().toString(36).slice(2)}`;
    trackSecrets(value);
    try {
      await client.send(new CreateSecretCommand({ Name: 'cli/key', SecretString: value }));
      const attempts = [
        { name: 'DNS rebinding', host: `rebind.attacker.test:${cliPort}`, origin: undefined },
        { name: 'foreign Origin', host: `127.0.0.1:${cliPort}`, origin: 'https://evil.example' },
      ];
      for (const attempt of attempts) {
        for (const [target, body] of [
          ['GetSecretValue', { SecretId: 'cli/key' }],
          [
            'RotateSecret',
            {
              SecretId: 'cli/key',
              RotationLambdaARN: 'arn:aws:lambda:us-east-1:123456789012:function:page-target',
            },
          ],
        ] as const) {
          const answer = await pageRequest(endpoint, {
            host: attempt.host,
            ...(attempt.origin ? { origin: attempt.origin } : {}),
            target,
            body: JSON.stringify(body),
          });
          const leaked = credentialsIn([answer.body], [value]);
          recordAttack({
            attack: `secrets-rotator local-endpoint: ${attempt.name} (${target})`,
            blocked: answer.status === 403,
            leaked: leaked.length,
          });
          expect(answer.status).toBe(403);
          expect(leaked).toEqual([]);
        }
      }
      // Nothing rotated: the value is the one created.
      expect((await client.send(new GetSecretValueCommand({ SecretId: 'cli/key' }))).SecretString).toBe(
        value,
      );
      const allowed = await pageRequest(endpoint, {
        host: `localhost:${cliPort}`,
        origin: 'http://localhost:5173',
        target: 'ListSecrets',
        body: '{}',
      });
      expect(allowed.status).toBe(200);
    } finally {
      client.destroy();
      void running.stop();
    }
    const result = await running.stop();
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(
      /warning: the local Secrets Manager endpoint listens on 0\.0\.0\.0, beyond this machine/,
    );
  });
});
