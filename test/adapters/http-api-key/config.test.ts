/**
 * The HTTP API-key adapter's configuration: every bad input is refused with an error naming the
 * field path and the fix, and changes nothing at the provider.
 */
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpApiKeyConfig, resolveConfig } from '../../../src/adapters/http-api-key/config.ts';
import { httpApiKey } from '../../../src/adapters/http-api-key/index.ts';
import { readPointer, render, renderJson } from '../../../src/adapters/http-api-key/template.ts';
import { createRotationHandler } from '../../../src/core/engine.ts';
import { ConfigurationError, SecretShapeError } from '../../../src/core/errors.ts';
import {
  type LocalSecretsManager,
  rotateSecret,
  startLocalSecretsManager,
} from '../../../src/testing/index.ts';
import { type KeyApi, startKeyApi } from '../../support/key-api.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { generateConfig, mintConfig, orphanCheckedConfig } from './fixtures.ts';

const URL_ = 'https://api.example.com/v1';
/** The key API listens on loopback, which a key reaches only when listed exactly. */
const LOOPBACK_ALLOWED = { HTTP_API_KEY_ALLOWED_HOSTS: '127.0.0.1' };

/** A valid configuration, loosened to plain JSON so tests can break it. */
function valid(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(mintConfig(URL_)));
}

function problemOf(config: unknown): string {
  try {
    resolveConfig(config);
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
}

describe('resolveConfig', () => {
  it('accepts the documented configurations and fills in defaults', () => {
    const minted = resolveConfig({ ...valid(), http: undefined, auth: undefined });
    expect(minted.baseUrl).toBe(URL_);
    expect(minted.keyField).toBe('apiKey');
    expect(minted.keyIdField).toBe('keyId');
    expect(minted.http).toEqual({ timeoutMs: 10_000, attempts: 4, initialDelayMs: 200, maxDelayMs: 5_000 });
    expect(minted.test.request.auth).toEqual({ type: 'bearer' });
    expect(minted.revoke.successStatus).toEqual([200, 202, 204]);
    expect(minted.revoke.goneStatus).toEqual([404, 410]);
    expect(resolveConfig(orphanCheckedConfig(URL_, 'revoke')).create).toMatchObject({
      mode: 'mint',
      onOrphan: 'revoke',
    });
    expect(resolveConfig(generateConfig(URL_)).create).toMatchObject({
      mode: 'generate',
      length: 40,
      prefix: 'gk_',
    });
  });

  it.each<[string, (config: Record<string, unknown>) => void, string]>([
    ['a missing baseUrl', (c) => delete c.baseUrl, 'baseUrl is required'],
    [
      'plain http to a remote host',
      (c) => (c.baseUrl = 'http://api.example.com'),
      'baseUrl must use https://',
    ],
    [
      'credentials in baseUrl',
      (c) => (c.baseUrl = 'https://u:p@api.example.com'),
      'baseUrl must not contain credentials',
    ],
    ['an unknown field', (c) => (c.mintt = {}), 'mintt is not a known setting'],
    [
      'both mint and generate',
      (c) => (c.generate = generateConfig(URL_).generate),
      'mint or generate must be set, not both',
    ],
    ['neither mint nor generate', (c) => delete c.mint, 'mint or generate must be set'],
    [
      'no protection against double minting',
      (c) => delete (c.mint as Record<string, unknown>).idempotencyHeader,
      'mint.idempotencyHeader or mint.orphanCheck must be set',
    ],
    [
      'a pointer without a slash',
      (c) => ((c.mint as Record<string, unknown>).keyPointer = 'key'),
      'mint.keyPointer must be a JSON pointer',
    ],
    [
      'an absolute URL as a path',
      (c) => ((c.test as { request: Record<string, unknown> }).request.path = 'https://evil.example/whoami'),
      'test.request.path must start with a single "/"',
    ],
    [
      'a variable the request does not have',
      (c) => ((c.revoke as { request: Record<string, unknown> }).request.path = '/keys/{{newKey}}'),
      'revoke.request.path uses {{newKey}}, which revoke requests do not have; available: {{key}}, {{versionId}}, {{revokedKeyId}}, {{revokedKey}}',
    ],
    [
      'a malformed placeholder',
      (c) =>
        ((c.test as { request: Record<string, unknown> }).request.headers = { 'X-Trace': '{{ versionId' }),
      'test.request.headers.X-Trace has a malformed placeholder',
    ],
    [
      'a bad method',
      (c) => ((c.test as { request: Record<string, unknown> }).request.method = 'FETCH'),
      'test.request.method must be one of',
    ],
    [
      'a body on a GET',
      (c) => ((c.test as { request: Record<string, unknown> }).request.body = { a: 1 }),
      'test.request.body is not allowed on a GET request',
    ],
    [
      'a bad status',
      (c) => ((c.test as Record<string, unknown>).successStatus = [200, 99]),
      'test.successStatus[1] must be an HTTP status',
    ],
    [
      'a bad header name',
      (c) => (c.headers = { 'Bad Header': 'x' }),
      'headers.Bad Header is not a valid HTTP header name',
    ],
    [
      'a missing revoke request',
      (c) => delete (c.revoke as Record<string, unknown>).request,
      'revoke.request is required when revoke.when is "finish"',
    ],
    [
      'an unknown revoke time',
      (c) => ((c.revoke as Record<string, unknown>).when = 'later'),
      'revoke.when must be one of "finish", "next-rotation", "never"',
    ],
    [
      'a zero timeout',
      (c) => (c.http = { timeoutMs: 0 }),
      'http.timeoutMs must be a whole number from 50 to 900000',
    ],
    ['an auth header without a name', (c) => (c.auth = { type: 'header' }), 'auth.name is required'],
  ])('refuses %s, naming the field', (_name, breakIt, message) => {
    const config = valid();
    breakIt(config);
    expect(problemOf(config)).toContain(message);
  });

  it('refuses the old key in a grace-period revocation, where it is no longer at hand', () => {
    const config = valid();
    config.revoke = {
      when: 'next-rotation',
      request: { method: 'POST', path: '/revoke', body: { key: '{{revokedKey}}' } },
    };
    expect(problemOf(config)).toContain(
      'revoke.request.body.key uses {{revokedKey}}, which revoke requests with a grace period',
    );
    config.revoke = {
      when: 'next-rotation',
      authWith: 'revoked',
      request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' },
    };
    expect(problemOf(config)).toContain('revoke.authWith "revoked" needs revoke.when "finish"');
  });

  it('requires the mint request to carry the version id when orphans are found by label', () => {
    const config = JSON.parse(JSON.stringify(orphanCheckedConfig(URL_, 'fail')));
    config.mint.request.body = { label: 'rotated key' };
    expect(problemOf(config)).toContain('mint.request must send {{versionId}}');
  });

  it('accepts plain http only for loopback hosts', () => {
    for (const host of ['http://127.0.0.1:8080', 'http://localhost:1', 'http://[::1]:9']) {
      expect(resolveConfig({ ...valid(), baseUrl: host }).baseUrl).toBe(host);
    }
  });
});

describe('the examples of docs/adapters/http-api-key.md', () => {
  // Kept verbatim in step with docs/adapters/http-api-key.md.
  const minting = {
    baseUrl: 'https://api.example.com/v1',
    auth: { type: 'bearer' },
    mint: {
      request: { method: 'POST', path: '/api-keys', body: { name: 'rotated {{versionId}}' } },
      keyPointer: '/secret',
      keyIdPointer: '/id',
      idempotencyHeader: 'Idempotency-Key',
    },
    test: {
      request: { method: 'GET', path: '/account' },
      successStatus: [200],
      propagation: { maxWaitMs: 30000 },
    },
    revoke: { when: 'next-rotation', request: { method: 'DELETE', path: '/api-keys/{{revokedKeyId}}' } },
    http: { timeoutMs: 5000, attempts: 4 },
  };
  const listing = {
    baseUrl: 'https://partner.example.net',
    auth: { type: 'header', name: 'X-Api-Key' },
    mint: {
      request: { method: 'POST', path: '/keys', body: { label: 'rotation {{versionId}}' } },
      keyPointer: '/data/key',
      keyIdPointer: '/data/id',
      orphanCheck: {
        request: { method: 'GET', path: '/keys' },
        itemsPointer: '/data',
        labelPointer: '/label',
        idPointer: '/id',
      },
      onOrphan: 'fail',
    },
    test: { request: { method: 'GET', path: '/whoami' } },
    revoke: { when: 'finish', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
  };
  const generating = {
    baseUrl: 'https://internal.example.org',
    auth: { type: 'basic', username: 'rotator', password: '{{key}}' },
    generate: {
      length: 48,
      prefix: 'svc_',
      register: {
        request: { method: 'PUT', path: '/credentials/{{newKeyId}}', body: { secret: '{{newKey}}' } },
      },
    },
    test: { request: { method: 'GET', path: '/health/authenticated' }, successStatus: [200, 204] },
    revoke: { when: 'finish', request: { method: 'DELETE', path: '/credentials/{{revokedKeyId}}' } },
  };

  it.each([
    ['minting with an idempotency key, grace period', minting],
    ['minting with an orphan check', listing],
    ['generating and registering', generating],
  ])('accepts %s', (_name, config) => {
    expect(() => resolveConfig(config)).not.toThrow();
  });
});

describe('templates and pointers', () => {
  it('URL-encodes values in paths and fills JSON string leaves', () => {
    expect(render('/keys/{{revokedKeyId}}', { revokedKeyId: 'a/b c' }, encodeURIComponent)).toBe(
      '/keys/a%2Fb%20c',
    );
    expect(
      renderJson({ a: ['x {{versionId}}', 1, null], b: { c: '{{versionId}}' } }, { versionId: 'v1' }),
    ).toEqual({
      a: ['x v1', 1, null],
      b: { c: 'v1' },
    });
  });

  it('reads RFC 6901 pointers, escapes included', () => {
    const document = { data: [{ 'a/b': { '~k': 'found' } }] };
    expect(readPointer(document, '/data/0/a~1b/~0k')).toBe('found');
    expect(readPointer(document, '/data/1')).toBeUndefined();
    expect(readPointer(document, '/data/x')).toBeUndefined();
    expect(readPointer(document, '')).toBe(document);
  });
});

describe('where the configuration comes from', () => {
  let sm: LocalSecretsManager;
  let api: KeyApi;
  let counter = 0;

  beforeAll(async () => {
    sm = await startLocalSecretsManager();
    api = await startKeyApi();
    trackSecrets(api.seed.key);
  });
  afterAll(async () => {
    await api?.close();
    await sm?.close();
  });

  async function secretWith(value: Record<string, unknown>): Promise<string> {
    const serialized = JSON.stringify(value);
    trackSecrets(serialized);
    const name = `http-api-key-config-${++counter}`;
    await sm.client().send(new CreateSecretCommand({ Name: name, SecretString: serialized }));
    return name;
  }

  it('fails at start-up on a bad HTTP_API_KEY_CONFIG, naming the variable and the field', () => {
    expect(() => createRotationHandler(httpApiKey(), { env: { HTTP_API_KEY_CONFIG: '{not json' } })).toThrow(
      new ConfigurationError(
        'HTTP_API_KEY_CONFIG',
        'is not valid JSON: set it to the configuration block, a JSON object',
      ),
    );
    const broken = { ...valid(), revoke: { when: 'finish' } };
    expect(() =>
      createRotationHandler(httpApiKey(), { env: { HTTP_API_KEY_CONFIG: JSON.stringify(broken) } }),
    ).toThrow('HTTP_API_KEY_CONFIG field revoke.request is required');
    const config = mintConfig(api.url);
    expect(() =>
      createRotationHandler(httpApiKey({ config }), { env: { HTTP_API_KEY_CONFIG: JSON.stringify(config) } }),
    ).toThrow('HTTP_API_KEY_CONFIG is set, but httpApiKey({ config }) was given in code too');
    expect(() => httpApiKey({ config: { ...config, baseUrl: 'ftp://x' } as HttpApiKeyConfig })).toThrow(
      'httpApiKey({ config }) field baseUrl must use https://',
    );
  });

  it('refuses a bad "rotation" block in the secret with the field path, before any request to the provider', async () => {
    const config = JSON.parse(JSON.stringify(mintConfig(api.url)));
    config.mint.keyPointer = 'key';
    const secretId = await secretWith({ apiKey: api.seed.key, keyId: api.seed.id, rotation: config });
    const handler = createRotationHandler(httpApiKey(), { client: sm.client(), env: LOOPBACK_ALLOWED });
    const callsBefore = api.calls.length;
    const result = await rotateSecret({ client: sm.client(), secretId, handler });
    expect(result.failedStep).toBe('createSecret');
    expect(result.cause).toBeInstanceOf(SecretShapeError);
    expect((result.cause as SecretShapeError).field).toBe('rotation.mint.keyPointer');
    expect(result.error).toContain('must be a JSON pointer');
    expect(api.calls.length).toBe(callsBefore);
  });

  it('refuses a secret configured twice (environment and "rotation" block)', async () => {
    const config = mintConfig(api.url);
    const secretId = await secretWith({ apiKey: api.seed.key, keyId: api.seed.id, rotation: config });
    const handler = createRotationHandler(httpApiKey(), {
      client: sm.client(),
      env: { ...LOOPBACK_ALLOWED, HTTP_API_KEY_CONFIG: JSON.stringify(config) },
    });
    const result = await rotateSecret({ client: sm.client(), secretId, handler });
    expect((result.cause as SecretShapeError).field).toBe('rotation');
    expect(result.error).toContain('keep the configuration in one place');
  });

  it('refuses a secret without its key, or without the key id its revocation will need, before minting', async () => {
    const handler = createRotationHandler(httpApiKey(), { client: sm.client(), env: LOOPBACK_ALLOWED });
    const noKey = await secretWith({
      token: api.seed.key,
      keyId: api.seed.id,
      rotation: mintConfig(api.url),
    });
    const first = await rotateSecret({ client: sm.client(), secretId: noKey, handler });
    expect((first.cause as SecretShapeError).field).toBe('apiKey');

    const noId = await secretWith({ apiKey: api.seed.key, rotation: mintConfig(api.url) });
    const mintedBefore = api.minted().length;
    const second = await rotateSecret({ client: sm.client(), secretId: noId, handler });
    expect(second.failedStep).toBe('createSecret');
    expect((second.cause as SecretShapeError).field).toBe('keyId');
    expect(second.error).toContain('needed by the revoke request ({{revokedKeyId}})');
    expect(api.minted().length).toBe(mintedBefore);
  });

  it('uses the configured field names for the key and its id', async () => {
    const config = { ...mintConfig(api.url), keyField: 'token', keyIdField: 'tokenId' };
    const secretId = await secretWith({ token: api.seed.key, tokenId: api.seed.id, rotation: config });
    const handler = createRotationHandler(httpApiKey(), { client: sm.client(), env: LOOPBACK_ALLOWED });
    const result = await rotateSecret({ client: sm.client(), secretId, handler });
    trackSecrets(...api.keys().map((record) => record.key));
    expect(result.ok).toBe(true);
    expect(api.accepts(api.seed.key)).toBe(false);
  });
});
