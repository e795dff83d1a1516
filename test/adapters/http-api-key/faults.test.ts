/**
 * The HTTP API-key adapter under faults: injected 500s, throttling, timeouts (before and after the
 * provider did the work), and a crash between minting a key and storing it. Retries must converge,
 * and no rotation may mint two keys without reporting it.
 */
import { describe, expect, it } from 'vitest';
import type { HttpApiKeyConfig } from '../../../src/adapters/http-api-key/config.ts';
import { type RotationResult, retryUntilConverged, rotateSecret } from '../../../src/testing/index.ts';
import { putSecretValueCrash } from '../../support/injected-faults.ts';
import type { KeyApiFault } from '../../support/key-api.ts';
import { capturedOutput } from '../../support/leak-scan.ts';
import { FAST_HTTP, mintConfig, orphanCheckedConfig, type Scenario, useScenarios } from './fixtures.ts';

const scenarios = useScenarios();
const start = scenarios.start;

/** Short timeouts, for the tests that make the provider hang. */
function withShortTimeout(config: (url: string) => HttpApiKeyConfig) {
  return (url: string): HttpApiKeyConfig => ({ ...config(url), http: { ...FAST_HTTP, timeoutMs: 400 } });
}

async function rotate(item: Scenario, resume = false): Promise<RotationResult> {
  const result = await rotateSecret({
    client: item.client,
    secretId: item.secretId,
    handler: item.handler,
    resume,
  });
  item.trackKeys();
  return result;
}

/** The rotated secret's key works, every other key the API made is revoked. */
async function expectOnlyCurrentKeyActive(item: Scenario): Promise<string> {
  const current = await item.current();
  const key = current.apiKey as string;
  expect(item.api.accepts(key)).toBe(true);
  expect(
    item.api
      .keys()
      .filter((record) => !record.revoked)
      .map((record) => record.key),
  ).toEqual([key]);
  return key;
}

describe('retries with back-off on 429 and 5xx', () => {
  it('rides out 500s on every route within one rotation, minting one key', async () => {
    const item = await start({ config: mintConfig });
    for (const route of ['POST /keys', 'GET /whoami', 'DELETE /keys/:id'] as const) {
      item.api.inject({ route, kind: 'error', times: 2 });
    }
    const result = await rotate(item);
    expect(result.error).toBeUndefined();
    expect(item.api.minted()).toHaveLength(1);
    expect(item.api.calls.filter((call) => call.status === 500)).toHaveLength(6);
    await expectOnlyCurrentKeyActive(item);
  });

  it('honours 429 with Retry-After and then succeeds', async () => {
    const item = await start({ config: mintConfig });
    item.api.inject({ route: 'POST /keys', kind: 'throttle', times: 2, retryAfterSeconds: 0 });
    const result = await rotate(item);
    expect(result.ok).toBe(true);
    expect(item.api.calls.filter((call) => call.route === 'POST /keys').map((call) => call.status)).toEqual([
      429, 429, 201,
    ]);
    await expectOnlyCurrentKeyActive(item);
  });

  it('fails createSecret cleanly when the provider keeps failing, and the retried rotation converges', async () => {
    const item = await start({ config: mintConfig });
    item.api.inject({ route: 'POST /keys', kind: 'error', status: 503, times: FAST_HTTP.attempts });
    const first = await rotate(item);
    expect(first.ok).toBe(false);
    expect(first.failedStep).toBe('createSecret');
    expect(first.error).toContain('mint request POST /keys failed with status 503 (4 attempts)');
    expect(item.api.minted()).toHaveLength(0);
    expect((await item.current()).apiKey).toBe(item.api.seed.key);
    const second = await rotate(item, true);
    expect(second.ok).toBe(true);
    expect(second.versionId).toBe(first.versionId);
    expect(item.api.minted()).toHaveLength(1);
    await expectOnlyCurrentKeyActive(item);
  });
});

describe('timeouts', () => {
  it('retries a mint that timed out before the provider acted, minting one key', async () => {
    const item = await start({ config: withShortTimeout(mintConfig) });
    item.api.inject({ route: 'POST /keys', kind: 'hang', times: 1 });
    const result = await rotate(item);
    expect(result.ok).toBe(true);
    expect(item.api.minted()).toHaveLength(1);
    await expectOnlyCurrentKeyActive(item);
  });

  it('with an idempotency key, a mint whose answer was lost is replayed, not repeated', async () => {
    const item = await start({ config: withShortTimeout(mintConfig) });
    item.api.inject({ route: 'POST /keys', kind: 'hang-after', times: 1 });
    const result = await rotate(item);
    expect(result.ok).toBe(true);
    const mints = item.api.calls.filter((call) => call.route === 'POST /keys');
    expect(mints).toHaveLength(2);
    expect(new Set(mints.map((call) => call.idempotencyKey))).toEqual(new Set([result.versionId]));
    expect(item.api.minted()).toHaveLength(1);
    await expectOnlyCurrentKeyActive(item);
  });

  it('without an idempotency key, a lost mint answer is reported as an orphan, never minted again silently', async () => {
    const item = await start({ config: withShortTimeout((url) => orphanCheckedConfig(url, 'fail')) });
    item.api.inject({ route: 'POST /keys', kind: 'hang-after', times: 1 });
    const result = await rotate(item);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('createSecret');
    const [orphan] = item.api.minted();
    expect(item.api.minted()).toHaveLength(1);
    expect(result.error).toContain(`Orphaned API key "${orphan!.id}"`);
    expect(result.error).toContain(`Revoke key "${orphan!.id}" at the provider`);
    expect(capturedOutput()).toMatch(new RegExp(`"orphanKeyId":"${orphan!.id}"`));
    // The secret is untouched and its key still works.
    expect((await item.current()).apiKey).toBe(item.api.seed.key);
    expect(item.api.accepts(item.api.seed.key)).toBe(true);
  });

  it('without an idempotency key and onOrphan "revoke", a lost mint answer is revoked, reported, and the rotation converges', async () => {
    const item = await start({ config: withShortTimeout((url) => orphanCheckedConfig(url, 'revoke')) });
    item.api.inject({ route: 'POST /keys', kind: 'hang-after', times: 1 });
    const result = await rotate(item);
    expect(result.ok).toBe(true);
    const minted = item.api.minted();
    expect(minted).toHaveLength(2);
    expect(minted[0]!.revoked).toBe(true);
    expect(capturedOutput()).toContain('orphaned key found');
    expect(capturedOutput()).toMatch(new RegExp(`"orphanKeyId":"${minted[0]!.id}"`));
    expect(capturedOutput()).toContain('"OrphanedKeyRevoked":1');
    expect((await expectOnlyCurrentKeyActive(item)) === minted[1]!.key).toBe(true);
  });
});

describe('a crash between minting and storing', () => {
  it('with an idempotency key, the retried rotation stores the key minted the first time', async () => {
    const item = await start({ config: mintConfig });
    scenarios.sm.inject(putSecretValueCrash);
    const first = await rotate(item);
    expect(first.ok).toBe(false);
    expect(first.failedStep).toBe('createSecret');
    expect(item.api.minted()).toHaveLength(1);
    const second = await rotate(item, true);
    expect(second.ok).toBe(true);
    expect(item.api.minted()).toHaveLength(1);
    expect(await expectOnlyCurrentKeyActive(item)).toBe(item.api.minted()[0]!.key);
  });

  it('without an idempotency key, the retried rotation reports the orphan instead of minting; after the operator revokes it, it converges', async () => {
    const item = await start({ config: (url) => orphanCheckedConfig(url, 'fail') });
    scenarios.sm.inject(putSecretValueCrash);
    const first = await rotate(item);
    expect(first.failedStep).toBe('createSecret');
    const [orphan] = item.api.minted();
    const second = await rotate(item, true);
    expect(second.ok).toBe(false);
    expect(second.error).toContain(`Orphaned API key "${orphan!.id}"`);
    expect(item.api.minted()).toHaveLength(1);
    // The operator follows the error's advice.
    item.api.revoke(orphan!.id);
    const third = await rotate(item, true);
    expect(third.ok).toBe(true);
    expect(third.versionId).toBe(first.versionId);
    expect(item.api.minted()).toHaveLength(2);
    await expectOnlyCurrentKeyActive(item);
  });

  it('without an idempotency key and onOrphan "revoke", the retried rotation revokes the orphan and converges', async () => {
    const item = await start({ config: (url) => orphanCheckedConfig(url, 'revoke') });
    scenarios.sm.inject(putSecretValueCrash);
    expect((await rotate(item)).ok).toBe(false);
    const [orphan] = item.api.minted();
    const second = await rotate(item, true);
    expect(second.ok).toBe(true);
    expect(item.api.find(orphan!.key)?.revoked).toBe(true);
    expect(item.api.minted()).toHaveLength(2);
    expect(capturedOutput()).toMatch(new RegExp(`"orphanKeyId":"${orphan!.id}"`));
    await expectOnlyCurrentKeyActive(item);
  });
});

describe('revocation is idempotent', () => {
  it('a finishSecret whose revocation failed is retried by the service and revokes the old key then', async () => {
    const item = await start({ config: mintConfig });
    item.api.inject({ route: 'DELETE /keys/:id', kind: 'error', times: FAST_HTTP.attempts });
    const result = await rotate(item);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('finishSecret');
    // The promotion happened; the old key is not revoked yet.
    const newKey = (await item.current()).apiKey as string;
    expect(newKey).not.toBe(item.api.seed.key);
    expect(item.api.accepts(item.api.seed.key)).toBe(true);
    // The service retries finishSecret with the same token: the engine runs the hook again.
    const event = { Step: 'finishSecret', SecretId: item.secretId, ClientRequestToken: result.versionId };
    await item.handler(event);
    expect(item.api.accepts(item.api.seed.key)).toBe(false);
    // And once more: the key is already revoked (404), which is success.
    await item.handler(event);
    expect(capturedOutput()).toContain('old key was already revoked');
    await expectOnlyCurrentKeyActive(item);
  });

  it('a revocation whose answer was lost is retried and accepted as already revoked', async () => {
    const item = await start({ config: withShortTimeout(mintConfig) });
    item.api.inject({ route: 'DELETE /keys/:id', kind: 'hang-after', times: 1 });
    const result = await rotate(item);
    expect(result.ok).toBe(true);
    expect(
      item.api.calls.filter((call) => call.route === 'DELETE /keys/:id').map((call) => call.status),
    ).toEqual([undefined, 404]);
    await expectOnlyCurrentKeyActive(item);
  });

  it('authenticating the revocation with the revoked key: a 401 on retry proves it is gone', async () => {
    const item = await start({
      config: withShortTimeout((url) => ({
        ...mintConfig(url),
        revoke: {
          when: 'finish',
          authWith: 'revoked',
          request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' },
        },
      })),
    });
    item.api.inject({ route: 'DELETE /keys/:id', kind: 'hang-after', times: 1 });
    const result = await rotate(item);
    expect(result.ok).toBe(true);
    const deletes = item.api.calls.filter((call) => call.route === 'DELETE /keys/:id');
    expect(deletes[0]!.callerKeyId).toBe(item.api.seed.id);
    expect(deletes.map((call) => call.status)).toEqual([undefined, 401]);
    await expectOnlyCurrentKeyActive(item);
  });
});

describe('20 rotations under a storm of faults', () => {
  const faults: Array<{ api?: KeyApiFault; putCrash?: boolean }> = [
    { api: { route: 'POST /keys', kind: 'error', times: 5 } },
    { api: { route: 'POST /keys', kind: 'hang-after', times: 1 } },
    { putCrash: true },
    { api: { route: 'GET /whoami', kind: 'error', times: 6 } },
    { api: { route: 'DELETE /keys/:id', kind: 'error', times: 5 } },
    { api: { route: 'POST /keys', kind: 'hang', times: 1 } },
    { api: { route: 'GET /whoami', kind: 'throttle', times: 3 } },
  ];

  /** One rotation with this round's fault, retried as the service would until it converges. */
  async function rotateUnderFault(item: Scenario, rotation: number): Promise<void> {
    const fault = faults[rotation % faults.length]!;
    if (fault.api) item.api.inject(fault.api);
    if (fault.putCrash) scenarios.sm.inject(putSecretValueCrash);
    const outcome = await retryUntilConverged({
      client: item.client,
      secretId: item.secretId,
      handler: async (event, context) => {
        try {
          await item.handler(event, context);
        } finally {
          item.trackKeys();
        }
      },
      attempts: 4,
    });
    // A rotation that failed in finishSecret after promoting is done on the service's next try.
    const finishFailed = outcome.results.find((result) => result.failedStep === 'finishSecret');
    if (!outcome.ok && finishFailed) {
      await item.handler({
        Step: 'finishSecret',
        SecretId: item.secretId,
        ClientRequestToken: finishFailed.versionId,
      });
    } else {
      expect(outcome.last.error).toBeUndefined();
    }
  }

  it('with an idempotency key: every rotation converges with exactly one new key, the old one revoked', async () => {
    const item = await start({ config: withShortTimeout(mintConfig) });
    let previousKey = item.api.seed.key;
    for (let rotation = 1; rotation <= 20; rotation++) {
      await rotateUnderFault(item, rotation);
      expect(item.api.minted()).toHaveLength(rotation);
      const key = await expectOnlyCurrentKeyActive(item);
      expect(item.api.find(previousKey)?.revoked).toBe(true);
      previousKey = key;
    }
  });

  it('without an idempotency key: every rotation converges, and every extra key minted is reported and revoked', async () => {
    const item = await start({ config: withShortTimeout((url) => orphanCheckedConfig(url, 'revoke')) });
    const stored = new Set<string>();
    let previousKey = item.api.seed.key;
    for (let rotation = 1; rotation <= 20; rotation++) {
      await rotateUnderFault(item, rotation);
      const key = await expectOnlyCurrentKeyActive(item);
      expect(item.api.find(previousKey)?.revoked).toBe(true);
      stored.add(key);
      previousKey = key;
    }
    // Every key minted beyond one per rotation is an orphan: named in a log line, and revoked.
    const orphans = item.api.minted().filter((record) => !stored.has(record.key));
    expect(stored.size).toBe(20);
    expect(item.api.minted()).toHaveLength(20 + orphans.length);
    expect(orphans.length).toBeGreaterThan(0);
    expect(orphans.every((record) => record.revoked)).toBe(true);
    const reported = new Set(
      [...capturedOutput().matchAll(/"orphanKeyId":"([^"]+)"/g)].map((match) => match[1]),
    );
    expect(reported).toEqual(new Set(orphans.map((record) => record.id)));
  });
});
