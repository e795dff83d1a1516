/**
 * Issue 12, section 3: a secret's writer chooses `rotation.baseUrl` and tries to receive the API
 * key. Fake servers on loopback play the attacker and record every byte that reaches them; a
 * hostile network (test/security/support/hostile-network.mjs) answers DNS the attacker's way and
 * routes the metadata address, a private address and a "public" address to loopback, so that a
 * key sent where it must not go would really arrive. Every attack runs against the source and
 * against the built http-api-key zip in a fresh process, as deployed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLambdas } from '../../scripts/build-lambdas.ts';
import type { HttpApiKeyConfig } from '../../src/adapters/http-api-key/config.ts';
import { type AddressLookup, httpApiKey } from '../../src/adapters/http-api-key/index.ts';
import { specialAddressKind } from '../../src/core/allowed-hosts.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import type { RotationHandler } from '../../src/core/event.ts';
import { type LocalSecretsManager, rotateSecret, startLocalSecretsManager } from '../../src/testing/index.ts';
import {
  lambdaEnvironment,
  startDeployedLambda,
  unpackLambda,
} from '../packaging/support/deployed-lambda.ts';
import { startKeyApi } from '../support/key-api.ts';
import { capturedOutput, trackSecrets } from '../support/leak-scan.ts';
import { makeTestCertificates, type TestCertificates } from '../support/tls.ts';
import { HOSTILE_NETWORK_VARIABLE, installHostileNetwork } from './support/hostile-network.mjs';
import { credentialsIn, recordAttack } from './support/ledger.ts';

const HOSTILE_NETWORK = new URL('./support/hostile-network.mjs', import.meta.url).href;

/**
 * A fake server that accepts any connection and records every byte it can read: plain HTTP, or,
 * with `tls`, what arrives inside TLS once a client trusts its certificate (the deployed function
 * does, through NODE_EXTRA_CA_CERTS; the test process does not, so there only connections count).
 */
interface Recorder {
  readonly port: number;
  readonly connections: () => number;
  readonly received: Buffer[];
  close(): Promise<void>;
}

/** Answers like an API would, so that a leaking client would go on sending. */
function playApi(socket: Socket, received: Buffer[]): void {
  socket.on('data', (chunk: Buffer) => {
    received.push(chunk);
    const text = chunk.toString('latin1');
    if (text.startsWith('POST') || text.startsWith('GET')) {
      socket.end(
        'HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 25\r\n\r\n{"key":"stolen","id":"1"}',
      );
    }
  });
  socket.on('error', () => {});
}

async function startRecorder(host: string, port = 0, tls?: { cert: string; key: string }): Promise<Recorder> {
  const received: Buffer[] = [];
  let connections = 0;
  const server: Server = tls
    ? createTlsServer(tls, (socket) => playApi(socket, received))
    : createServer((socket) => playApi(socket, received));
  // Counted at TCP level: a connection that never completes its TLS handshake still counts.
  server.on('connection', (socket: Socket) => {
    connections += 1;
    socket.on('error', () => {});
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    connections: () => connections,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function config(baseUrl: string): HttpApiKeyConfig {
  return {
    baseUrl,
    auth: { type: 'bearer' },
    mint: {
      request: { method: 'POST', path: '/keys', body: { label: 'rotation {{versionId}}' } },
      keyPointer: '/key',
      keyIdPointer: '/id',
      idempotencyHeader: 'Idempotency-Key',
    },
    test: { request: { method: 'GET', path: '/whoami' } },
    revoke: { when: 'finish', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
    http: { timeoutMs: 1_000, attempts: 2, initialDelayMs: 5, maxDelayMs: 20 },
  };
}

/** One attack: where the secret points, what the deployer allowed, how the network answers. */
interface Attack {
  readonly name: string;
  /** `PORT` is replaced by the attacker's port. */
  readonly baseUrl: string;
  readonly allowedHosts?: string;
  readonly dns?: Record<string, string[]>;
  readonly routes?: Record<string, string>;
  /** Where the error must point. */
  readonly refusal: RegExp;
}

const ATTACKS: readonly Attack[] = [
  {
    name: 'secret points at a loopback server, no HTTP_API_KEY_ALLOWED_HOSTS',
    baseUrl: 'http://127.0.0.1:PORT',
    refusal:
      /HTTP_API_KEY_ALLOWED_HOSTS is not set, so host 127\.0\.0\.1 named by the secret's rotation\.baseUrl is refused/,
  },
  {
    name: 'secret points at a loopback server the list does not name',
    baseUrl: 'http://127.0.0.1:PORT',
    allowedHosts: 'api.example.com',
    refusal: /HTTP_API_KEY_ALLOWED_HOSTS does not list host 127\.0\.0\.1/,
  },
  {
    name: 'listed name "localhost" resolves (system resolver) to a loopback address not listed',
    baseUrl: 'http://localhost:PORT',
    allowedHosts: 'localhost',
    refusal: /does not list (127\.0\.0\.1|::1): host localhost .* resolves to .*a loopback address/,
  },
  {
    name: 'secret points at the instance metadata address 169.254.169.254',
    baseUrl: 'https://169.254.169.254:PORT/latest',
    allowedHosts: '*.example.com',
    routes: { '169.254.169.254': '127.0.0.1' },
    refusal: /does not list host 169\.254\.169\.254/,
  },
  {
    name: 'allowed pattern name resolves to the metadata address',
    baseUrl: 'https://metadata.example.com:PORT',
    allowedHosts: '*.example.com',
    dns: { 'metadata.example.com': ['169.254.169.254'] },
    routes: { '169.254.169.254': '127.0.0.1' },
    refusal:
      /does not list 169\.254\.169\.254: host metadata\.example\.com .* resolves to 169\.254\.169\.254, a link-local address/,
  },
  {
    name: 'allowed pattern name resolves to loopback',
    baseUrl: 'https://evil.example.com:PORT',
    allowedHosts: '*.example.com',
    dns: { 'evil.example.com': ['127.0.0.1'] },
    refusal: /resolves to 127\.0\.0\.1, a loopback address/,
  },
  {
    name: 'allowed pattern name resolves to a private address',
    baseUrl: 'https://intranet.example.com:PORT',
    allowedHosts: '*.example.com',
    dns: { 'intranet.example.com': ['10.20.30.40'] },
    routes: { '10.20.30.40': '127.0.0.1' },
    refusal: /resolves to 10\.20\.30\.40, a private address/,
  },
  {
    name: 'allowed pattern name resolves to loopback written as IPv4-mapped IPv6',
    baseUrl: 'https://mapped.example.com:PORT',
    allowedHosts: '*.example.com',
    dns: { 'mapped.example.com': ['::ffff:127.0.0.1'] },
    routes: { '::ffff:127.0.0.1': '127.0.0.1' },
    refusal: /resolves to ::ffff:127\.0\.0\.1, a loopback address/,
  },
  {
    name: 'allowed name answers public, then loopback at connect time (DNS rebinding)',
    baseUrl: 'https://rebind.example.com:PORT',
    allowedHosts: '*.example.com',
    // The first answer passes the check; the rebound one would reach the attacker on 127.0.0.1.
    dns: { 'rebind.example.com': ['93.184.215.14', '127.0.0.1'] },
    // The "public" address leads to the real provider's stand-in on 127.0.0.2.
    routes: { '93.184.215.14': '127.0.0.2' },
    refusal: /mint request POST \/keys failed/,
  },
];

type Runner = 'source' | 'deployed zip';

let sm: LocalSecretsManager;
let client: SecretsManagerClient;
let workDir: string;
let zipDir: string;
let certs: TestCertificates;
let counter = 0;

beforeAll(async () => {
  sm = await startLocalSecretsManager();
  client = sm.client();
  workDir = await mkdtemp(join(tmpdir(), 'security-http-'));
  const build = await buildLambdas({
    outDir: join(workDir, 'dist'),
    only: ['http-api-key'],
    enforceBudgets: false,
  });
  const zip = build.lambdas.find((entry) => entry.name === 'http-api-key');
  if (!zip) throw new Error('the build made no http-api-key zip');
  zipDir = await unpackLambda(zip.zipPath, join(workDir, 'http-api-key'));
  // The attacker's certificate, for every name and address the attacks use.
  certs = await makeTestCertificates(join(workDir, 'certs'), {
    commonName: 'api.example.com',
    altNames: ['*.example.com', 'example.com', '169.254.169.254', '127.0.0.1'],
  });
});

afterAll(async () => {
  await sm?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function secretPointingAt(baseUrl: string): Promise<{ secretId: string; apiKey: string }> {
  const apiKey = `victim_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const value = JSON.stringify({ apiKey, keyId: 'k-victim', rotation: config(baseUrl) });
  trackSecrets(apiKey, value);
  const secretId = `security-http-${++counter}-${Date.now()}`;
  await client.send(new CreateSecretCommand({ Name: secretId, SecretString: value }));
  return { secretId, apiKey };
}

/** A handler for the runner, with the deployer's settings and the attacker's network. */
async function handlerFor(
  runner: Runner,
  settings: Record<string, string>,
  network: { dns?: Record<string, string[]>; routes?: Record<string, string> },
): Promise<{ handler: RotationHandler; close: () => Promise<void> }> {
  if (runner === 'source') {
    const uninstall = installHostileNetwork(network);
    return {
      handler: createRotationHandler(httpApiKey(), { client, env: settings }),
      close: async () => uninstall(),
    };
  }
  const env = lambdaEnvironment({
    endpoint: sm.endpoint,
    functionName: `security-http-${counter}`,
    taskRoot: zipDir,
    settings: {
      ...settings,
      [HOSTILE_NETWORK_VARIABLE]: JSON.stringify(network),
      // The function trusts the attacker's certificate (say, a CA the attacker got a name from):
      // only the host rules stand between the key and the attacker.
      NODE_EXTRA_CA_CERTS: certs.caPath,
    },
  });
  const deployed = await startDeployedLambda({ dir: zipDir, env, execArgv: ['--import', HOSTILE_NETWORK] });
  return { handler: deployed.handler, close: () => deployed.close() };
}

describe.each<Runner>(['source', 'deployed zip'])('the secret chooses where the key goes (%s)', (runner) => {
  it.each(ATTACKS.map((attack) => [attack.name, attack] as const))(
    '%s: refused, nothing received',
    async (_name, attack) => {
      const attacker = await startRecorder(
        '127.0.0.1',
        0,
        attack.baseUrl.startsWith('https:') ? { cert: certs.serverCert, key: certs.serverKey } : undefined,
      );
      // The rebinding case: the stand-in for the real provider listens on the same port elsewhere.
      const provider = attack.routes?.['93.184.215.14']
        ? await startRecorder('127.0.0.2', attacker.port)
        : undefined;
      const { secretId, apiKey } = await secretPointingAt(
        attack.baseUrl.replace('PORT', String(attacker.port)),
      );
      const settings: Record<string, string> = attack.allowedHosts
        ? { HTTP_API_KEY_ALLOWED_HOSTS: attack.allowedHosts }
        : {};
      const fn = await handlerFor(runner, settings, { dns: attack.dns, routes: attack.routes });
      try {
        const result = await rotateSecret({ client, secretId, handler: fn.handler });
        const leaked = credentialsIn(attacker.received, [apiKey]);
        recordAttack({
          attack: `http-api-key (${runner}): ${attack.name}`,
          blocked: !result.ok && attacker.connections() === 0,
          leaked: leaked.length,
        });
        expect(result.ok).toBe(false);
        expect(result.failedStep).toBe('createSecret');
        expect(result.error).toMatch(attack.refusal);
        expect(attacker.connections()).toBe(0);
        expect(leaked).toEqual([]);
        if (provider) {
          // The check's answer was the one connected to: the provider saw the (TLS) connection.
          expect(provider.connections()).toBeGreaterThan(0);
        }
      } finally {
        await fn.close();
        await attacker.close();
        await provider?.close();
      }
    },
  );

  it('control: a loopback provider listed exactly still receives its rotation', async () => {
    const api = await startKeyApi();
    try {
      const value = JSON.stringify({ apiKey: api.seed.key, keyId: api.seed.id, rotation: config(api.url) });
      trackSecrets(api.seed.key, value);
      const secretId = `security-http-control-${++counter}`;
      await client.send(new CreateSecretCommand({ Name: secretId, SecretString: value }));
      const fn = await handlerFor(runner, { HTTP_API_KEY_ALLOWED_HOSTS: 'api.example.com,127.0.0.1' }, {});
      try {
        const result = await rotateSecret({ client, secretId, handler: fn.handler });
        trackSecrets(...api.keys().map((record) => record.key));
        expect(result.error).toBeUndefined();
        expect(result.ok).toBe(true);
        expect(api.minted()).toHaveLength(1);
      } finally {
        await fn.close();
      }
    } finally {
      await api.close();
    }
  });

  it('a provider answering with more than 1 MiB is cut off with a clear error', async () => {
    const huge = `{"key":"${'k'.repeat(2 * 1024 * 1024)}","id":"big"}`;
    const server = createHttpServer((request, response) => {
      request.resume();
      // Chunked, with no length announced: the cap must hold while reading.
      response.writeHead(201, { 'content-type': 'application/json' });
      response.end(huge);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    const { secretId } = await secretPointingAt(`http://127.0.0.1:${port}`);
    const fn = await handlerFor(runner, { HTTP_API_KEY_ALLOWED_HOSTS: '127.0.0.1' }, {});
    try {
      const result = await rotateSecret({ client, secretId, handler: fn.handler });
      recordAttack({
        attack: `http-api-key (${runner}): the provider answers 2 MiB to exhaust the function's memory`,
        blocked: !result.ok && /over 1048576 bytes \(1 MiB\)/.test(result.error ?? ''),
        // The server is the allowed provider: it was meant to see the key.
        leaked: 0,
      });
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(
        /mint request POST \/keys answered 201 with a body over 1048576 bytes \(1 MiB\)/,
      );
    } finally {
      await fn.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('the custom lookup option and the address rules', () => {
  it('httpApiKey({ lookup }) is the resolver checked and connected through', async () => {
    const attacker = await startRecorder('127.0.0.1');
    const asked: string[] = [];
    const lookup: AddressLookup = async (hostname) => {
      asked.push(hostname);
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const { secretId, apiKey } = await secretPointingAt(`https://api.example.com:${attacker.port}`);
    const handler = createRotationHandler(httpApiKey({ lookup }), {
      client,
      env: { HTTP_API_KEY_ALLOWED_HOSTS: 'api.example.com' },
    });
    const result = await rotateSecret({ client, secretId, handler });
    recordAttack({
      attack: 'http-api-key (source): exactly listed name resolves to loopback through a custom lookup',
      blocked: !result.ok && attacker.connections() === 0,
      leaked: credentialsIn(attacker.received, [apiKey]).length,
    });
    expect(asked).toEqual(['api.example.com']);
    expect(result.error).toMatch(
      /does not list 127\.0\.0\.1: host api\.example\.com .* resolves to 127\.0\.0\.1, a loopback address/,
    );
    expect(attacker.connections()).toBe(0);
    await attacker.close();
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fd00:ec2::254', 'private'],
    ['10.0.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['0.0.0.0', 'reserved'],
    ['::', 'reserved'],
    ['224.0.0.1', 'reserved'],
    ['93.184.215.14', undefined],
    ['172.32.0.1', undefined],
    ['2606:4700::1111', undefined],
  ])('%s is %s', (address, kind) => {
    expect(specialAddressKind(address)).toBe(kind);
  });

  it('no key reached the captured output', () => {
    expect(capturedOutput()).not.toMatch(/victim_[a-z0-9]{8}/);
  });
});
