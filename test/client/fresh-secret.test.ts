import {
  CreateSecretCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { ConfigurationError } from 'secrets-rotator';
import { type CachedSecret, SecretCache, type SecretRefusal, withFreshSecret } from 'secrets-rotator/client';
import { type LocalSecretsManager, startLocalSecretsManager } from 'secrets-rotator/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { trackSecrets } from '../support/leak-scan.ts';

let local: LocalSecretsManager;
let sdk: SecretsManagerClient;
let counter = 0;

class Refused extends Error {
  readonly status = 401;
}
const isAuthError = (error: unknown) => error instanceof Refused;

/**
 * A stand-in for the service the credential opens: it accepts exactly the keys in `accepted`, and
 * records which version and label each call used.
 */
function keyedService(accepted: Set<string>) {
  const used: Array<{ stage: string; versionId: string }> = [];
  const call = async (secret: CachedSecret<string>) => {
    used.push({ stage: secret.stage, versionId: secret.versionId });
    if (!accepted.has(secret.value)) throw new Refused('key refused');
    return `ok with ${secret.versionId}`;
  };
  return { call, used };
}

function manualClock() {
  let now = 5_000_000;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

async function createSecret(value: string): Promise<{ name: string; versionId: string }> {
  counter += 1;
  const name = `client/fresh-${counter}`;
  trackSecrets(value);
  const answer = await sdk.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return { name, versionId: answer.VersionId! };
}

async function putVersion(name: string, value: string, stages?: string[]): Promise<string> {
  trackSecrets(value);
  const answer = await sdk.send(
    new PutSecretValueCommand({ SecretId: name, SecretString: value, VersionStages: stages }),
  );
  return answer.VersionId!;
}

async function promote(name: string, versionId: string, from: string): Promise<void> {
  await sdk.send(
    new UpdateSecretVersionStageCommand({
      SecretId: name,
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: versionId,
      RemoveFromVersionId: from,
    }),
  );
}

function reads(name: string, stage: string): number {
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

describe('withFreshSecret', () => {
  it('calls fn once with the cached current version when it is accepted', async () => {
    const { name, versionId } = await createSecret('fresh-key-accepted');
    const cache = new SecretCache({ client: sdk });
    const service = keyedService(new Set(['fresh-key-accepted']));

    await expect(withFreshSecret(cache, name, service.call, { isAuthError })).resolves.toBe(
      `ok with ${versionId}`,
    );
    await withFreshSecret(cache, name, service.call, { isAuthError });

    expect(service.used).toEqual([
      { stage: 'AWSCURRENT', versionId },
      { stage: 'AWSCURRENT', versionId },
    ]);
    expect(reads(name, 'AWSCURRENT')).toBe(1);
  });

  it('refreshes and retries with the new current version when the cached one was rotated away', async () => {
    const { name, versionId: old } = await createSecret('fresh-key-old');
    const cache = new SecretCache({ client: sdk, ttlMs: 3_600_000 });
    await cache.get(name);
    const rotated = await putVersion(name, 'fresh-key-new');
    const service = keyedService(new Set(['fresh-key-new']));
    const refusals: SecretRefusal[] = [];

    const result = await withFreshSecret(cache, name, service.call, {
      isAuthError,
      onRefused: (refusal) => refusals.push(refusal),
    });

    expect(result).toBe(`ok with ${rotated}`);
    expect(service.used).toEqual([
      { stage: 'AWSCURRENT', versionId: old },
      { stage: 'AWSCURRENT', versionId: rotated },
    ]);
    expect(refusals).toEqual([
      { secretId: name, versionId: old, stage: 'AWSCURRENT', attempt: 1, willRetry: true },
    ]);
    expect(reads(name, 'AWSPENDING')).toBe(0);
  });

  it('uses AWSPENDING during a single-user window, and keeps using it until AWSCURRENT moves', async () => {
    const clock = manualClock();
    const { name, versionId: current } = await createSecret('window-key-current');
    const pending = await putVersion(name, 'window-key-pending', ['AWSPENDING']);
    const cache = new SecretCache({ client: sdk, ttlMs: 1_000, clock: clock.now });
    // setSecret has run: the target accepts only the pending key.
    const service = keyedService(new Set(['window-key-pending']));

    await withFreshSecret(cache, name, service.call, { isAuthError });
    expect(service.used).toEqual([
      { stage: 'AWSCURRENT', versionId: current },
      { stage: 'AWSPENDING', versionId: pending },
    ]);

    // The next call goes straight to the pending version: no refusal, no Secrets Manager call.
    const readsBefore = local.callsTo('GetSecretValue').length;
    await withFreshSecret(cache, name, service.call, { isAuthError });
    expect(service.used.at(-1)).toEqual({ stage: 'AWSPENDING', versionId: pending });
    expect(local.callsTo('GetSecretValue').length).toBe(readsBefore);

    // finishSecret promotes it; once the cache sees that, the version is used as AWSCURRENT.
    await promote(name, pending, current);
    clock.advance(1_000);
    await withFreshSecret(cache, name, service.call, { isAuthError });
    expect(service.used.at(-1)).toEqual({ stage: 'AWSCURRENT', versionId: pending });
    expect(service.used).toHaveLength(4);
  });

  it('falls back to AWSPREVIOUS when current and pending are refused', async () => {
    const { name, versionId: first } = await createSecret('previous-key-1');
    const second = await putVersion(name, 'previous-key-2');
    const cache = new SecretCache({ client: sdk });
    // The target never took the new value: only the previous one works.
    const service = keyedService(new Set(['previous-key-1']));

    await withFreshSecret(cache, name, service.call, { isAuthError });

    expect(service.used).toEqual([
      { stage: 'AWSCURRENT', versionId: second },
      { stage: 'AWSPREVIOUS', versionId: first },
    ]);
  });

  it('throws the last refusal unchanged when every version is refused, then pauses before asking again', async () => {
    const clock = manualClock();
    const { name } = await createSecret('all-refused-1');
    await putVersion(name, 'all-refused-2');
    await putVersion(name, 'all-refused-3', ['AWSPENDING']);
    const cache = new SecretCache({ client: sdk, clock: clock.now });
    const service = keyedService(new Set());
    const refusals: SecretRefusal[] = [];
    const options = { isAuthError, onRefused: (refusal: SecretRefusal) => refusals.push(refusal) };

    await expect(withFreshSecret(cache, name, service.call, options)).rejects.toBeInstanceOf(Refused);
    expect(service.used.map((use) => use.stage)).toEqual(['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS']);
    expect(refusals.map((refusal) => refusal.willRetry)).toEqual([true, true, false]);

    // During the pause a refusal fails at once, without calling Secrets Manager.
    const readsBefore = local.callsTo('GetSecretValue').length;
    await expect(withFreshSecret(cache, name, service.call, options)).rejects.toBeInstanceOf(Refused);
    expect(service.used).toHaveLength(4);
    expect(local.callsTo('GetSecretValue').length).toBe(readsBefore);

    // After it, the versions are tried again.
    clock.advance(2_000);
    await expect(withFreshSecret(cache, name, service.call, options)).rejects.toBeInstanceOf(Refused);
    expect(service.used.length).toBeGreaterThan(5);
  });

  it('throws other errors at once, without refreshing', async () => {
    const { name } = await createSecret('other-error-key');
    const cache = new SecretCache({ client: sdk });
    let calls = 0;

    await expect(
      withFreshSecret(
        cache,
        name,
        () => {
          calls += 1;
          throw new TypeError('not an authentication problem');
        },
        { isAuthError },
      ),
    ).rejects.toThrow(TypeError);
    expect(calls).toBe(1);
    expect(reads(name, 'AWSCURRENT')).toBe(1);
  });

  it('lets concurrent refusals share one refresh and one pending read', async () => {
    const { name, versionId: current } = await createSecret('concurrent-key-current');
    const pending = await putVersion(name, 'concurrent-key-pending', ['AWSPENDING']);
    const cache = new SecretCache({ client: sdk });
    await cache.get(name);
    const service = keyedService(new Set(['concurrent-key-pending']));

    const results = await Promise.all(
      Array.from({ length: 12 }, () => withFreshSecret(cache, name, service.call, { isAuthError })),
    );

    expect(new Set(results)).toEqual(new Set([`ok with ${pending}`]));
    expect(service.used.filter((use) => use.versionId === current)).toHaveLength(12);
    expect(reads(name, 'AWSCURRENT')).toBe(2);
    expect(reads(name, 'AWSPENDING')).toBe(1);
  });

  it('hands fn the parsed value and stops after maxAttempts', async () => {
    const { name } = await createSecret('{"apiKey":"parsed-key-old"}');
    await putVersion(name, '{"apiKey":"parsed-key-pending"}', ['AWSPENDING']);
    const cache = new SecretCache({ client: sdk });
    const seen: string[] = [];
    const parse = (value: string) => JSON.parse(value) as { apiKey: string };

    await expect(
      withFreshSecret(
        cache,
        name,
        ({ parsed }) => {
          seen.push(parsed.apiKey);
          throw new Refused('refused');
        },
        { isAuthError, parse, maxAttempts: 2 },
      ),
    ).rejects.toBeInstanceOf(Refused);
    expect(seen).toEqual(['parsed-key-old', 'parsed-key-pending']);
  });

  it('rejects missing or unusable options, naming them', async () => {
    const cache = new SecretCache({ client: sdk });
    await expect(
      withFreshSecret(cache, 'x', () => 1, {} as unknown as { isAuthError: () => boolean }),
    ).rejects.toThrow(/isAuthError/);
    await expect(withFreshSecret(cache, 'x', () => 1, { isAuthError, maxAttempts: 0 })).rejects.toThrow(
      ConfigurationError,
    );
  });
});
