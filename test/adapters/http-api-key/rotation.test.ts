/**
 * The HTTP API-key adapter, end to end: the real engine, the local Secrets Manager endpoint through
 * the real SDK client, and a key-issuing API on loopback that enforces keys.
 */
import { createHook } from 'node:async_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { rotateSecret } from '../../../src/testing/index.ts';
import { capturedOutput } from '../../support/leak-scan.ts';
import { generateConfig, mintConfig, type Scenario, useScenarios } from './fixtures.ts';

const scenarios = useScenarios();
const start = scenarios.start;

async function rotateOk(item: Scenario): Promise<string> {
  const result = await rotateSecret({ client: item.client, secretId: item.secretId, handler: item.handler });
  item.trackKeys();
  expect(result.error).toBeUndefined();
  expect(result.ok).toBe(true);
  return result.versionId;
}

describe('minted keys, revoked at finish', () => {
  it('rotates 20 times: after each, the new key works and the old one is revoked', async () => {
    const item = await start({ config: mintConfig });
    let previousKey = item.api.seed.key;
    const versionIds: string[] = [];
    for (let rotation = 1; rotation <= 20; rotation++) {
      versionIds.push(await rotateOk(item));
      const current = await item.current();
      const key = current.apiKey as string;
      expect(key).not.toBe(previousKey);
      expect(item.api.accepts(key)).toBe(true);
      expect(item.api.find(key)?.id).toBe(current.keyId);
      expect(item.api.accepts(previousKey)).toBe(false);
      expect(item.api.find(previousKey)?.revoked).toBe(true);
      // Every field survives, the configuration block included.
      expect(current.owner).toBe('payments-team');
      expect(current.rotation).toEqual(mintConfig(item.api.url));
      previousKey = key;
    }
    // One key minted per rotation, each request carrying its version id as idempotency key.
    expect(item.api.minted()).toHaveLength(20);
    const mints = item.api.calls.filter((call) => call.route === 'POST /keys');
    expect(mints.map((call) => call.idempotencyKey)).toEqual(versionIds);
    // Only the last key is active.
    expect(item.api.keys().filter((record) => !record.revoked)).toHaveLength(1);
  });

  it('takes its configuration from HTTP_API_KEY_CONFIG when the secret has no "rotation" block', async () => {
    const item = await start({ config: mintConfig, configIn: 'env' });
    await rotateOk(item);
    await rotateOk(item);
    const current = await item.current();
    expect(current.rotation).toBeUndefined();
    expect(item.api.accepts(current.apiKey as string)).toBe(true);
    expect(item.api.minted()).toHaveLength(2);
  });

  it('authenticates with Basic authentication when configured (key as the user name)', async () => {
    const item = await start({ config: (url) => ({ ...mintConfig(url), auth: { type: 'basic' } }) });
    await rotateOk(item);
    await rotateOk(item);
    const schemes = new Set(item.api.calls.map((call) => call.authScheme));
    expect([...schemes]).toEqual(['basic']);
    expect(item.api.accepts((await item.current()).apiKey as string)).toBe(true);
  });

  it('waits with back-off while the provider propagates the new key', async () => {
    const item = await start({ config: mintConfig, api: { propagationChecks: 3 } });
    await rotateOk(item);
    const checks = item.api.calls.filter((call) => call.route === 'GET /whoami');
    expect(checks.map((call) => call.status)).toEqual([401, 401, 401, 200]);
    expect(capturedOutput()).toContain('waiting for the provider to propagate it');
  });

  it('fails testSecret, leaving the old key current, when the new key never works', async () => {
    const item = await start({
      config: (url) => ({
        ...mintConfig(url),
        test: {
          request: { method: 'GET', path: '/whoami' },
          propagation: { maxWaitMs: 200, initialDelayMs: 5, maxDelayMs: 20 },
        },
      }),
      api: { propagationChecks: 1_000_000 },
    });
    const result = await rotateSecret({
      client: item.client,
      secretId: item.secretId,
      handler: item.handler,
    });
    item.trackKeys();
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('testSecret');
    expect(result.error).toMatch(/was still refused after \d+ checks/);
    expect((await item.current()).apiKey).toBe(item.api.seed.key);
    expect(item.api.accepts(item.api.seed.key)).toBe(true);
  });
});

describe('grace period: revoke one rotation later', () => {
  it('rotates 20 times: the previous key works until the next rotation, then is revoked', async () => {
    const item = await start({
      config: (url) => ({
        ...mintConfig(url),
        revoke: { when: 'next-rotation', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
      }),
    });
    const keys = [item.api.seed.key];
    for (let rotation = 1; rotation <= 20; rotation++) {
      await rotateOk(item);
      const current = await item.current();
      keys.push(current.apiKey as string);
      expect(item.api.accepts(keys[rotation]!)).toBe(true); // new
      expect(item.api.accepts(keys[rotation - 1]!)).toBe(true); // previous, in its grace period
      if (rotation >= 2) expect(item.api.find(keys[rotation - 2]!)?.revoked).toBe(true);
      expect(item.api.keys().filter((record) => !record.revoked)).toHaveLength(2);
    }
    expect(item.api.minted()).toHaveLength(20);
  });
});

describe('keys generated locally and registered', () => {
  it('rotates 20 times with a custom header: each new key is registered, works, and the old one is revoked', async () => {
    const item = await start({ config: generateConfig });
    let previousKey = item.api.seed.key;
    for (let rotation = 1; rotation <= 20; rotation++) {
      const versionId = await rotateOk(item);
      const current = await item.current();
      const key = current.apiKey as string;
      expect(key).toMatch(/^gk_[A-Za-z0-9]{40}$/);
      expect(current.keyId).toBe(versionId);
      expect(item.api.accepts(key)).toBe(true);
      expect(item.api.find(previousKey)?.revoked).toBe(true);
      previousKey = key;
    }
    expect(item.api.minted()).toHaveLength(0);
    expect(item.api.keys().filter((record) => record.origin === 'registered')).toHaveLength(20);
    expect(new Set(item.api.calls.map((call) => call.authScheme))).toEqual(new Set(['header']));
  });

  it('does not register again when a retried setSecret finds the key already working', async () => {
    const item = await start({
      config: (url) => ({
        ...generateConfig(url),
        http: { timeoutMs: 500, attempts: 2, initialDelayMs: 5, maxDelayMs: 20 },
      }),
    });
    // Every registration attempt registers the key but its answer is lost: setSecret fails.
    item.api.inject({ route: 'PUT /keys/:id', kind: 'hang-after', times: 2 });
    const first = await rotateSecret({ client: item.client, secretId: item.secretId, handler: item.handler });
    item.trackKeys();
    expect(first.ok).toBe(false);
    expect(first.failedStep).toBe('setSecret');
    expect(first.error).toMatch(/timeout failure: register request PUT \/keys\/\{\{newKeyId\}\}/);
    // The service retries the rotation: setSecret sees the key already works and does not register it again.
    const second = await rotateSecret({
      client: item.client,
      secretId: item.secretId,
      handler: item.handler,
      resume: true,
    });
    item.trackKeys();
    expect(second.ok).toBe(true);
    expect(second.versionId).toBe(first.versionId);
    expect(item.api.calls.filter((call) => call.route === 'PUT /keys/:id')).toHaveLength(2);
    expect(capturedOutput()).toContain('registration not needed');
    expect(item.api.accepts((await item.current()).apiKey as string)).toBe(true);
    expect(item.api.accepts(item.api.seed.key)).toBe(false);
  });
});

describe('no key in any log line', () => {
  it('logs key ids, never keys, through a rotation with retries and waits', async () => {
    const item = await start({ config: mintConfig, api: { propagationChecks: 2 } });
    item.api.inject({ route: 'POST /keys', kind: 'error', times: 1 });
    await rotateOk(item);
    const current = await item.current();
    const output = capturedOutput();
    expect(output).toContain(current.keyId as string);
    expect(output).toContain('retrying provider request');
    for (const record of item.api.keys()) expect(output).not.toContain(record.key);
    expect(output).not.toMatch(/Bearer /);
  });
});

describe('timers in a warm container', () => {
  it("clears each request's deadline once the provider answers, instead of keeping a timer per request", async () => {
    const item = await start({ config: mintConfig });
    // Every timer the provider client starts, by async id, until it fires or is cleared.
    const running = new Map<number, string>();
    const hook = createHook({
      init(asyncId, type) {
        if (type !== 'Timeout') return;
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 40;
        const stack = new Error('timer started').stack ?? '';
        Error.stackTraceLimit = limit;
        if (stack.includes('http-api-key/http.ts')) running.set(asyncId, stack);
      },
      destroy(asyncId) {
        running.delete(asyncId);
      },
    });
    hook.enable();
    try {
      await rotateOk(item);
      // Destroy events arrive a turn of the event loop after the clear.
      await nextTurn();
      await nextTurn();
      expect(item.api.calls.length).toBeGreaterThanOrEqual(3);
      expect([...running.values()]).toEqual([]);
    } finally {
      hook.disable();
    }
  });
});
