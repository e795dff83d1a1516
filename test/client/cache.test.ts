import {
  CreateSecretCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { ConfigurationError, SecretShapeError, SecretsManagerCallError } from 'secrets-rotator';
import { SecretCache } from 'secrets-rotator/client';
import { type LocalSecretsManager, startLocalSecretsManager } from 'secrets-rotator/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { trackSecrets } from '../support/leak-scan.ts';

let local: LocalSecretsManager;
let sdk: SecretsManagerClient;
let secretCounter = 0;

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

/** Creates a secret with a unique name and returns the name and its first version id. */
async function createSecret(value: string): Promise<{ name: string; versionId: string }> {
  secretCounter += 1;
  const name = `client/cache-${secretCounter}`;
  trackSecrets(value);
  const answer = await sdk.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return { name, versionId: answer.VersionId! };
}

/** Stores a new AWSCURRENT version, as finishSecret would, and returns its id. */
async function putCurrent(name: string, value: string): Promise<string> {
  trackSecrets(value);
  const answer = await sdk.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
  return answer.VersionId!;
}

function getCalls(name: string, stage = 'AWSCURRENT'): number {
  return local
    .callsTo('GetSecretValue')
    .filter((call) => call.input.SecretId === name && (call.input.VersionStage ?? 'AWSCURRENT') === stage)
    .length;
}

beforeAll(async () => {
  local = await startLocalSecretsManager();
  sdk = local.client({ maxAttempts: 1 });
});

afterAll(async () => {
  await local.close();
});

beforeEach(() => {
  local.clearFaults();
});

describe('SecretCache TTL', () => {
  it('serves a value from memory until the TTL passes, then fetches it again', async () => {
    const clock = manualClock();
    const { name, versionId } = await createSecret('ttl-secret-value-1');
    const cache = new SecretCache({ client: sdk, ttlMs: 10_000, clock: clock.now });

    const first = await cache.get(name);
    expect(first).toMatchObject({ value: 'ttl-secret-value-1', versionId, stage: 'AWSCURRENT' });
    clock.advance(9_999);
    await cache.get(name);
    await cache.get(name);
    expect(getCalls(name)).toBe(1);

    clock.advance(1);
    const again = await cache.get(name);
    expect(getCalls(name)).toBe(2);
    expect(again.versionId).toBe(versionId);
  });

  it('picks up a rotated value once the TTL has passed, not before', async () => {
    const clock = manualClock();
    const { name } = await createSecret('rotating-value-old');
    const cache = new SecretCache({ client: sdk, ttlMs: 5_000, clock: clock.now });

    expect((await cache.get(name)).value).toBe('rotating-value-old');
    const newVersion = await putCurrent(name, 'rotating-value-new');
    expect((await cache.get(name)).value).toBe('rotating-value-old');

    clock.advance(5_000);
    const fresh = await cache.get(name);
    expect(fresh).toMatchObject({ value: 'rotating-value-new', versionId: newVersion });
  });
});

describe('SecretCache fetch sharing', () => {
  it('makes one GetSecretValue call for many concurrent callers on a cold cache', async () => {
    const { name } = await createSecret('shared-fetch-value');
    const cache = new SecretCache({ client: sdk });
    // Slow the answer down so every caller arrives while the fetch is under way.
    local.inject({ operation: 'GetSecretValue', delayMs: 100 });

    const results = await Promise.all(Array.from({ length: 25 }, () => cache.get(name)));

    expect(getCalls(name)).toBe(1);
    expect(new Set(results.map((result) => result.value))).toEqual(new Set(['shared-fetch-value']));
  });

  it('shares one fetch between concurrent refresh calls too', async () => {
    const { name } = await createSecret('shared-refresh-value');
    const cache = new SecretCache({ client: sdk });
    await cache.get(name);
    local.inject({ operation: 'GetSecretValue', delayMs: 100 });

    await Promise.all([cache.refresh(name), cache.refresh(name), cache.get(name), cache.refresh(name)]);

    // One for the first get, one shared by the three refreshes (the get was served from memory).
    expect(getCalls(name)).toBe(2);
  });

  it('refresh fetches at once even when the cached value is fresh', async () => {
    const { name } = await createSecret('refresh-now-old');
    const cache = new SecretCache({ client: sdk, ttlMs: 3_600_000 });
    await cache.get(name);
    const newVersion = await putCurrent(name, 'refresh-now-new');

    const refreshed = await cache.refresh(name);

    expect(refreshed).toMatchObject({ value: 'refresh-now-new', versionId: newVersion });
    expect((await cache.get(name)).versionId).toBe(newVersion);
    expect(getCalls(name)).toBe(2);
  });
});

describe('SecretCache version awareness', () => {
  it('does not parse again when a refresh finds the same version', async () => {
    const clock = manualClock();
    const { name } = await createSecret(JSON.stringify({ apiKey: 'version-aware-key-1' }));
    const cache = new SecretCache({ client: sdk, ttlMs: 1_000, clock: clock.now });
    const parse = vi.fn((value: string) => JSON.parse(value) as { apiKey: string });

    const first = await cache.get(name, { parse });
    clock.advance(1_000);
    const second = await cache.get(name, { parse });
    await cache.refresh(name, { parse });

    expect(getCalls(name)).toBe(3);
    expect(parse).toHaveBeenCalledTimes(1);
    // The very same parsed object: callers may keep derived state keyed on it.
    expect(second.parsed).toBe(first.parsed);
  });

  it('parses again when the version changed', async () => {
    const clock = manualClock();
    const { name } = await createSecret(JSON.stringify({ apiKey: 'version-change-key-1' }));
    const cache = new SecretCache({ client: sdk, ttlMs: 1_000, clock: clock.now });
    const parse = vi.fn((value: string) => JSON.parse(value) as { apiKey: string });

    await cache.get(name, { parse });
    await putCurrent(name, JSON.stringify({ apiKey: 'version-change-key-2' }));
    clock.advance(1_000);
    const after = await cache.get(name, { parse });

    expect(parse).toHaveBeenCalledTimes(2);
    expect(after.parsed.apiKey).toBe('version-change-key-2');
  });

  it('keeps one parsed form per parser', async () => {
    const { name } = await createSecret('{"n":"parser-per-caller"}');
    const cache = new SecretCache({ client: sdk });
    const asJson = vi.fn((value: string) => JSON.parse(value) as { n: string });
    const asLength = vi.fn((value: string) => value.length);

    expect((await cache.get(name, { parse: asJson })).parsed.n).toBe('parser-per-caller');
    expect((await cache.get(name, { parse: asLength })).parsed).toBe(25);
    expect((await cache.get(name)).parsed).toBe('{"n":"parser-per-caller"}');
    await cache.get(name, { parse: asJson });

    expect(asJson).toHaveBeenCalledTimes(1);
    expect(asLength).toHaveBeenCalledTimes(1);
    expect(getCalls(name)).toBe(1);
  });
});

describe('SecretCache stale-while-revalidate', () => {
  it('serves the stale value at once and replaces it with one background fetch', async () => {
    const clock = manualClock();
    const { name, versionId: oldVersion } = await createSecret('swr-value-old');
    const cache = new SecretCache({
      client: sdk,
      ttlMs: 1_000,
      staleWhileRevalidateMs: 10_000,
      clock: clock.now,
    });
    await cache.get(name);
    const newVersion = await putCurrent(name, 'swr-value-new');
    clock.advance(1_500);
    local.inject({ operation: 'GetSecretValue', delayMs: 100 });

    const [a, b, c] = await Promise.all([cache.get(name), cache.get(name), cache.get(name)]);

    expect([a.versionId, b.versionId, c.versionId]).toEqual([oldVersion, oldVersion, oldVersion]);
    await vi.waitFor(() => expect(cache.peek(name)?.versionId).toBe(newVersion));
    expect(getCalls(name)).toBe(2);
    expect((await cache.get(name)).value).toBe('swr-value-new');
  });

  it('waits for a fetch once the value is older than TTL plus the stale window', async () => {
    const clock = manualClock();
    const { name } = await createSecret('swr-expired-old');
    const cache = new SecretCache({
      client: sdk,
      ttlMs: 1_000,
      staleWhileRevalidateMs: 2_000,
      clock: clock.now,
    });
    await cache.get(name);
    await putCurrent(name, 'swr-expired-new');
    clock.advance(3_000);

    expect((await cache.get(name)).value).toBe('swr-expired-new');
  });

  it('keeps serving the stale value when the background fetch fails, and reports the failure', async () => {
    const clock = manualClock();
    const { name, versionId } = await createSecret('swr-failure-value');
    const failures: Array<{ error: unknown; secretId: string }> = [];
    const cache = new SecretCache({
      client: sdk,
      ttlMs: 1_000,
      staleWhileRevalidateMs: 10_000,
      clock: clock.now,
      onBackgroundRefreshError: (error, secretId) => failures.push({ error, secretId }),
    });
    await cache.get(name);
    clock.advance(2_000);
    local.inject({
      operation: 'GetSecretValue',
      error: { type: 'InternalServiceError', message: 'the service is having a bad day', status: 500 },
      times: 1,
    });

    expect((await cache.get(name)).versionId).toBe(versionId);
    await vi.waitFor(() => expect(failures).toHaveLength(1));
    expect(failures[0]?.secretId).toBe(name);
    expect(failures[0]?.error).toBeInstanceOf(SecretsManagerCallError);
    expect((failures[0]!.error as SecretsManagerCallError).code).toBe('InternalServiceError');
    expect(cache.peek(name)?.versionId).toBe(versionId);
  });
});

describe('SecretCache other versions', () => {
  it('reads AWSPENDING and AWSPREVIOUS, and answers undefined when no version holds the label', async () => {
    const { name, versionId: first } = await createSecret('stages-value-1');
    const cache = new SecretCache({ client: sdk });

    expect(await cache.getVersion(name, 'AWSPENDING')).toBeUndefined();
    expect(await cache.getVersion(name, 'AWSPREVIOUS')).toBeUndefined();

    trackSecrets('stages-value-2');
    const pending = await sdk.send(
      new PutSecretValueCommand({
        SecretId: name,
        SecretString: 'stages-value-2',
        VersionStages: ['AWSPENDING'],
      }),
    );
    expect(await cache.getVersion(name, 'AWSPENDING')).toMatchObject({
      value: 'stages-value-2',
      versionId: pending.VersionId,
      stage: 'AWSPENDING',
    });

    await sdk.send(
      new UpdateSecretVersionStageCommand({
        SecretId: name,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: pending.VersionId,
        RemoveFromVersionId: first,
      }),
    );
    expect(await cache.getVersion(name, 'AWSPREVIOUS')).toMatchObject({
      value: 'stages-value-1',
      versionId: first,
    });
  });

  it('always fetches AWSPENDING afresh, sharing concurrent fetches', async () => {
    const { name } = await createSecret('pending-fresh-1');
    trackSecrets('pending-fresh-2');
    await sdk.send(
      new PutSecretValueCommand({
        SecretId: name,
        SecretString: 'pending-fresh-2',
        VersionStages: ['AWSPENDING'],
      }),
    );
    const cache = new SecretCache({ client: sdk, ttlMs: 3_600_000 });
    local.inject({ operation: 'GetSecretValue', delayMs: 50 });

    await Promise.all([cache.getVersion(name, 'AWSPENDING'), cache.getVersion(name, 'AWSPENDING')]);
    await cache.getVersion(name, 'AWSPENDING');

    expect(getCalls(name, 'AWSPENDING')).toBe(2);
  });

  it('refuses an unknown label with a configuration error', async () => {
    const cache = new SecretCache({ client: sdk });
    await expect(cache.getVersion('any', 'AWSNEXT' as 'AWSPENDING')).rejects.toThrow(ConfigurationError);
  });
});

describe('SecretCache bounds and invalidation', () => {
  it('keeps at most maxEntries, evicting the least recently used', async () => {
    const a = await createSecret('bounded-a-value');
    const b = await createSecret('bounded-b-value');
    const c = await createSecret('bounded-c-value');
    const cache = new SecretCache({ client: sdk, maxEntries: 2 });

    await cache.get(a.name);
    await cache.get(b.name);
    await cache.get(a.name); // a is now the most recently used
    await cache.get(c.name); // evicts b

    expect(cache.size).toBe(2);
    expect(cache.peek(b.name)).toBeUndefined();
    await cache.get(a.name);
    await cache.get(b.name);
    expect(getCalls(a.name)).toBe(1);
    expect(getCalls(b.name)).toBe(2);
  });

  it('fetches again after invalidate, for one secret or all', async () => {
    const a = await createSecret('invalidate-a-value');
    const b = await createSecret('invalidate-b-value');
    const cache = new SecretCache({ client: sdk });
    await cache.get(a.name);
    await cache.get(b.name);

    cache.invalidate(a.name);
    expect(cache.peek(a.name)).toBeUndefined();
    expect(cache.peek(b.name)).toBeDefined();
    await cache.get(a.name);
    cache.invalidate();
    expect(cache.size).toBe(0);
    await cache.get(b.name);

    expect(getCalls(a.name)).toBe(2);
    expect(getCalls(b.name)).toBe(2);
  });
});

describe('SecretCache errors', () => {
  it('names the secret and the service error for a missing secret', async () => {
    const cache = new SecretCache({ client: sdk });
    const error = await cache.get('client/does-not-exist').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretsManagerCallError);
    expect((error as SecretsManagerCallError).code).toBe('ResourceNotFoundException');
    expect((error as Error).message).toContain('client/does-not-exist');
  });

  it('refuses a binary secret with a message that does not quote it', async () => {
    secretCounter += 1;
    const name = `client/binary-${secretCounter}`;
    const bytes = Buffer.from('binary-secret-bytes-value');
    trackSecrets('binary-secret-bytes-value', bytes.toString('base64'));
    await sdk.send(new CreateSecretCommand({ Name: name, SecretBinary: bytes }));
    const cache = new SecretCache({ client: sdk });

    const error = await cache.get(name).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SecretShapeError);
    expect((error as Error).message).toContain('SecretString');
    expect((error as Error).message).not.toContain('binary-secret-bytes-value');
  });

  it('rejects unusable options, naming them', () => {
    expect(() => new SecretCache({ ttlMs: -1 })).toThrow(/ttlMs/);
    expect(() => new SecretCache({ staleWhileRevalidateMs: Number.NaN })).toThrow(/staleWhileRevalidateMs/);
    expect(() => new SecretCache({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new SecretCache({ maxEntries: 1.5 })).toThrow(ConfigurationError);
  });
});
