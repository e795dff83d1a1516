/**
 * Hostile input a fuzzer found (issue 12, section 6): each was refused before, but with an engine
 * error (TypeError, RangeError, ByteString) instead of one naming the field and the fix. Each case
 * runs through the real engine and the local endpoint, and checks that nothing was written.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import type { HttpApiKeyConfig } from '../../src/adapters/http-api-key/config.ts';
import { httpApiKey } from '../../src/adapters/http-api-key/index.ts';
import { randomSecret } from '../../src/adapters/random-secret/index.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import { ConfigurationError, ProtocolStateError, SecretShapeError } from '../../src/core/errors.ts';
import { jsonDepthExcess, MAX_JSON_DEPTH } from '../../src/core/json-depth.ts';
import { databaseSecretFields } from '../../src/database/secret.ts';
import { rotateSecret } from '../../src/testing/index.ts';
import { capturedOutput, trackSecrets } from '../support/leak-scan.ts';
import { useLocalSecretsManager } from '../support/local-secrets-manager.ts';

const local = useLocalSecretsManager();
let counter = 0;

async function createSecret(value: string): Promise<string> {
  trackSecrets(value);
  const answer = await local.client.send(
    new CreateSecretCommand({ Name: `hostile-${++counter}-${Date.now()}`, SecretString: value }),
  );
  return answer.ARN!;
}

async function labels(arn: string): Promise<Record<string, string[]>> {
  return (await local.client.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages ?? {};
}

/** `{"field":{"a":{"a":…"leaf"…}}}` with `depth` levels of objects in all. */
function nested(field: string, depth: number, leaf: unknown = 'x'): Record<string, unknown> {
  let inner: unknown = leaf;
  for (let level = 2; level <= depth; level++) inner = { a: inner };
  return { [field]: inner };
}

/** The same as text, built without JSON.stringify (which overflows on such depths). */
function nestedText(prefix: string, depth: number): string {
  return `{${prefix}"deep":${'{"a":'.repeat(depth - 2)}{}${'}'.repeat(depth - 2)}}`;
}

describe('version lookups: a ClientRequestToken that is a built-in property name', () => {
  const handler = () =>
    createRotationHandler(randomSecret(), { client: local.client, env: { PASSWORD_GENERATOR: 'local' } });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])(
    '"%s" gets the protocol error "has no stage", for every step',
    async (token) => {
      const arn = await createSecret('initial-value-proto');
      const before = await labels(arn);
      for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) {
        const attempt = handler()({ Step: step, SecretId: arn, ClientRequestToken: token });
        await expect(attempt).rejects.toBeInstanceOf(ProtocolStateError);
        await expect(attempt).rejects.toThrow(
          `Secret version ${token} has no stage for rotation of secret ${arn}`,
        );
      }
      expect(await labels(arn)).toEqual(before);
    },
  );

  it('a pending version really named "constructor" rotates normally', async () => {
    const arn = await createSecret('initial-value-ctor');
    await local.sm.registerPendingVersion(arn, 'constructor');
    const run = handler();
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) {
      await run({ Step: step, SecretId: arn, ClientRequestToken: 'constructor' });
    }
    // The engine moves AWSCURRENT; the service itself removes AWSPENDING afterwards.
    expect((await labels(arn)).constructor).toContain('AWSCURRENT');
    const answer = await local.client.send(new GetSecretValueCommand({ SecretId: arn }));
    trackSecrets(answer.SecretString);
    expect(answer.VersionId).toBe('constructor');
  });
});

describe(`JSON nested more than ${MAX_JSON_DEPTH} levels deep`, () => {
  it('the scanner counts levels outside strings only, and names the top-level field', () => {
    expect(jsonDepthExcess('{"a":[[1]]}', 2)).toEqual({ depth: 3, field: 'a' });
    expect(jsonDepthExcess('{"a":"[[[[{{{{"}', 2)).toBeUndefined();
    expect(jsonDepthExcess('{"a\\"b":"\\"[[[[", "c":[[[]]]}', 3)).toEqual({ depth: 4, field: 'c' });
    expect(jsonDepthExcess(JSON.stringify(nested('ok', MAX_JSON_DEPTH)))).toBeUndefined();
    expect(jsonDepthExcess(JSON.stringify(nested('over', MAX_JSON_DEPTH + 1)))).toEqual({
      depth: MAX_JSON_DEPTH + 1,
      field: 'over',
    });
  });

  it('a 5,000-level secret fails createSecret with an error naming the field, writing nothing', async () => {
    const text = nestedText('"password":"initial-deep-value",', 5_000);
    const arn = await createSecret(text);
    await local.sm.registerPendingVersion(arn, 'token-deep');
    const before = await labels(arn);
    const putsBefore = local.sm.callsTo('PutSecretValue').length;
    const run = createRotationHandler(randomSecret({ field: 'password' }), {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local' },
    });
    const attempt = run({ Step: 'createSecret', SecretId: arn, ClientRequestToken: 'token-deep' });
    await expect(attempt).rejects.toBeInstanceOf(SecretShapeError);
    await expect(attempt).rejects.toThrow(
      `Secret field "(value)" is nested more than ${MAX_JSON_DEPTH} levels deep (in field "deep")`,
    );
    expect(await labels(arn)).toEqual(before);
    expect(local.sm.callsTo('PutSecretValue')).toHaveLength(putsBefore);
  });

  it('database secrets refuse the same depth before parsing', () => {
    const text = nestedText('"engine":"postgres","password":"deep-db-pass",', 5_000);
    expect(() => databaseSecretFields(text, 'store a flat object')).toThrow(
      /Secret field "\(value\)" is nested more than 64 levels deep \(in field "deep"\): store a flat object/,
    );
  });

  function apiKeyConfig(body: unknown): HttpApiKeyConfig {
    return {
      baseUrl: 'https://api.example.com',
      mint: {
        request: { method: 'POST', path: '/keys', body: body as never },
        keyPointer: '/key',
        keyIdPointer: '/id',
        idempotencyHeader: 'Idempotency-Key',
      },
      test: { request: { method: 'GET', path: '/me' } },
      revoke: { when: 'finish', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
    };
  }

  it('a 3,000-level http-api-key request body: refused in code, in HTTP_API_KEY_CONFIG and in the secret', async () => {
    const deepBody = nested('label', 3_000);
    expect(() => httpApiKey({ config: apiKeyConfig(deepBody) })).toThrow(ConfigurationError);
    expect(() => httpApiKey({ config: apiKeyConfig(deepBody) })).toThrow(
      `httpApiKey({ config }) field mint.request.body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`,
    );

    const shallow = JSON.stringify(apiKeyConfig({ label: 'PLACEHOLDER' }));
    const deepText = shallow.replace('"PLACEHOLDER"', `${'{"a":'.repeat(3_000)}1${'}'.repeat(3_000)}`);
    const target = httpApiKey();
    expect(() => target.init?.({ HTTP_API_KEY_CONFIG: deepText })).toThrow(
      /^HTTP_API_KEY_CONFIG is nested more than 64 levels deep \(in field "mint"\)/,
    );

    const secretText = `{"apiKey":"deep-api-key-value","rotation":${deepText}}`;
    const arn = await createSecret(secretText);
    await local.sm.registerPendingVersion(arn, 'token-deep-key');
    const run = createRotationHandler(httpApiKey(), { client: local.client, env: {} });
    const attempt = run({ Step: 'createSecret', SecretId: arn, ClientRequestToken: 'token-deep-key' });
    const putsBefore = local.sm.callsTo('PutSecretValue').length;
    await expect(attempt).rejects.toThrow(
      'Secret field "(value)" is nested more than 64 levels deep (in field "rotation")',
    );
    expect(local.sm.callsTo('PutSecretValue')).toHaveLength(putsBefore);
  });
});

describe('http-api-key header text above U+00FF', () => {
  const base: HttpApiKeyConfig = {
    baseUrl: 'https://api.example.com',
    mint: {
      request: { method: 'POST', path: '/keys' },
      keyPointer: '/key',
      keyIdPointer: '/id',
      idempotencyHeader: 'Idempotency-Key',
    },
    test: { request: { method: 'GET', path: '/me' } },
    revoke: { when: 'finish', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
  };

  it.each([
    ['headers.X-Team', { ...base, headers: { 'X-Team': 'paiements→équipe' } }],
    ['auth.value', { ...base, auth: { type: 'header', name: 'X-Api-Key', value: 'Clé✓ {{key}}' } }],
    [
      'test.request.headers.X-Note',
      { ...base, test: { request: { method: 'GET', path: '/me', headers: { 'X-Note': '日本' } } } },
    ],
  ] as Array<[string, HttpApiKeyConfig]>)('%s is a configuration error naming the field', (field, config) => {
    expect(() => httpApiKey({ config })).toThrow(ConfigurationError);
    expect(() => httpApiKey({ config })).toThrow(
      `httpApiKey({ config }) field ${field} has a character above U+00FF`,
    );
  });

  it('Latin-1 text (up to U+00FF) is still accepted', () => {
    expect(() => httpApiKey({ config: { ...base, headers: { 'X-Team': 'équipe café' } } })).not.toThrow();
  });

  it('a stored key above U+00FF is refused naming the key field, before any request', async () => {
    const secretText = JSON.stringify({ apiKey: 'ключ-api-value', keyId: 'k1', rotation: base });
    const arn = await createSecret(secretText);
    await local.sm.registerPendingVersion(arn, 'token-cyrillic');
    const run = createRotationHandler(httpApiKey(), { client: local.client, env: {} });
    const attempt = run({ Step: 'createSecret', SecretId: arn, ClientRequestToken: 'token-cyrillic' });
    await expect(attempt).rejects.toBeInstanceOf(SecretShapeError);
    await expect(attempt).rejects.toThrow('Secret field "apiKey" has a character above U+00FF');
  });
});

describe("a new value over Secrets Manager's 65,536-byte limit", () => {
  it('is refused before PutSecretValue, naming the field that grew', async () => {
    const fields = { password: 'tiny-initial-pw', padding: '' };
    const empty = JSON.stringify(fields).length;
    fields.padding = 'p'.repeat(65_536 - empty);
    const text = JSON.stringify(fields);
    expect(Buffer.byteLength(text)).toBe(65_536);
    const arn = await createSecret(text);
    await local.sm.registerPendingVersion(arn, 'token-grow');
    const putsBefore = local.sm.callsTo('PutSecretValue').length;
    const run = createRotationHandler(randomSecret({ field: 'password' }), {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local', PASSWORD_LENGTH: '32' },
    });
    const attempt = run({ Step: 'createSecret', SecretId: arn, ClientRequestToken: 'token-grow' });
    await expect(attempt).rejects.toBeInstanceOf(SecretShapeError);
    await expect(attempt).rejects.toThrow(
      /^Secret field "password" would make the new version 655\d\d bytes long \(the current one is 65536\), over Secrets Manager's limit of 65536 bytes/,
    );
    expect(local.sm.callsTo('PutSecretValue')).toHaveLength(putsBefore);
    expect(await labels(arn)).toMatchObject({ 'token-grow': ['AWSPENDING'] });
  });

  it('a value that still fits is written as before', async () => {
    const fields = { password: 'short-enough', padding: 'p'.repeat(1_000) };
    const arn = await createSecret(JSON.stringify(fields));
    const run = createRotationHandler(randomSecret({ field: 'password' }), {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local' },
    });
    const result = await rotateSecret({ client: local.client, secretId: arn, handler: run });
    expect(result.ok).toBe(true);
    const answer = await local.client.send(new GetSecretValueCommand({ SecretId: arn }));
    trackSecrets(answer.SecretString);
  });

  it('leaves no secret value in the captured output', () => {
    expect(capturedOutput()).not.toContain('initial-deep-value');
    expect(capturedOutput()).not.toContain('deep-api-key-value');
  });
});
