/**
 * The OAuth client-secret adapter, end to end: the real engine, the local Secrets Manager endpoint
 * through the real SDK client, and an OAuth provider on loopback whose token endpoint checks the
 * client's secret and whose admin API allows two active secrets at most.
 */
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type OAuthClientSecretConfig,
  oauthClientSecret,
} from '../../../src/adapters/oauth-client-secret/index.ts';
import { createRotationHandler } from '../../../src/core/engine.ts';
import type { RotationHandler } from '../../../src/core/event.ts';
import {
  type LocalSecretsManager,
  type RotationResult,
  rotateSecret,
  startLocalSecretsManager,
} from '../../../src/testing/index.ts';
import {
  type OAuthProvider,
  type OAuthProviderOptions,
  startOAuthProvider,
} from '../../support/fake-oauth-provider.ts';
import { putSecretValueCrash } from '../../support/injected-faults.ts';
import { capturedOutput, trackSecrets } from '../../support/leak-scan.ts';

let sm: LocalSecretsManager;
const open: OAuthProvider[] = [];
let counter = 0;

beforeAll(async () => {
  sm = await startLocalSecretsManager();
});
afterEach(async () => {
  sm.clearFaults();
  for (const provider of open.splice(0)) {
    track(provider);
    await provider.close();
  }
});
afterAll(async () => {
  await sm?.close();
});

function track(provider: OAuthProvider): void {
  trackSecrets(...provider.secrets().map((record) => record.secret), ...provider.tokens());
}

const FAST = {
  http: { timeoutMs: 2_000, attempts: 4, initialDelayMs: 5, maxDelayMs: 40 },
  propagation: { maxWaitMs: 2_000, initialDelayMs: 5, maxDelayMs: 40 },
} as const;

function configFor(
  provider: OAuthProvider,
  extra: Partial<OAuthClientSecretConfig> = {},
): OAuthClientSecretConfig {
  return {
    baseUrl: provider.url,
    clientId: provider.clientId,
    secretsPath: provider.secretsPath,
    ...FAST,
    ...extra,
  };
}

interface Rig {
  provider: OAuthProvider;
  client: SecretsManagerClient;
  secretId: string;
  handler: RotationHandler;
  current(): Promise<Record<string, unknown>>;
  rotate(resume?: boolean): Promise<RotationResult>;
}

async function rig(
  extra: Partial<OAuthClientSecretConfig> = {},
  providerOptions: OAuthProviderOptions = {},
): Promise<Rig> {
  const provider = await startOAuthProvider(providerOptions);
  open.push(provider);
  const client = sm.client();
  const value = JSON.stringify({
    clientId: provider.clientId,
    clientSecret: provider.seed.secret,
    secretId: provider.seed.id,
    owner: 'billing-team',
  });
  trackSecrets(provider.seed.secret, value);
  const secretId = `oauth-client-secret-${++counter}-${Date.now()}`;
  await client.send(new CreateSecretCommand({ Name: secretId, SecretString: value }));
  const env = {
    HTTP_API_KEY_ALLOWED_HOSTS: '127.0.0.1',
    OAUTH_CLIENT_SECRET_CONFIG: JSON.stringify(configFor(provider, extra)),
  };
  const handler = createRotationHandler(oauthClientSecret(), { client, env });
  return {
    provider,
    client,
    secretId,
    handler,
    current: async () => {
      const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      trackSecrets(answer.SecretString);
      return JSON.parse(answer.SecretString ?? '{}') as Record<string, unknown>;
    },
    rotate: async (resume = false) => {
      const result = await rotateSecret({ client, secretId, handler, resume });
      track(provider);
      return result;
    },
  };
}

describe('client secrets revoked at finish', () => {
  it('rotates 20 times: after each, the new secret gets a token and the old one is refused', async () => {
    const item = await rig();
    let previous = item.provider.seed.secret;
    for (let rotation = 1; rotation <= 20; rotation++) {
      const result = await item.rotate();
      expect(result.error).toBeUndefined();
      expect(result.ok).toBe(true);
      const current = await item.current();
      const secret = current.clientSecret as string;
      expect(secret).not.toBe(previous);
      expect(await item.provider.tokenStatus(secret)).toBe(200);
      expect(await item.provider.tokenStatus(previous)).toBe(401);
      expect(item.provider.find(secret)?.id).toBe(current.secretId);
      expect(current.owner).toBe('billing-team');
      expect(item.provider.active()).toHaveLength(1);
      previous = secret;
    }
    // One secret minted per rotation, each tested with a client_credentials request over Basic.
    expect(item.provider.secrets()).toHaveLength(21);
    const tests = item.provider.calls.filter((call) => call.route === 'token' && call.clientAuth === 'basic');
    expect(tests.length).toBeGreaterThanOrEqual(20);
    track(item.provider);
    for (const value of [
      ...item.provider.secrets().map((record) => record.secret),
      ...item.provider.tokens(),
    ]) {
      expect(capturedOutput()).not.toContain(value);
    }
  });

  it('sends the client credentials in the form body when clientAuth is "body"', async () => {
    const item = await rig({ clientAuth: 'body', scope: 'billing:read' });
    expect((await item.rotate()).ok).toBe(true);
    const tokenCalls = item.provider.calls.filter((call) => call.route === 'token');
    expect(tokenCalls.some((call) => call.clientAuth === 'body' && call.status === 200)).toBe(true);
  });
});

describe('client secrets revoked at the next rotation (grace period)', () => {
  it('rotates 20 times: the previous secret works until the next rotation, never more than two active', async () => {
    const item = await rig({ revoke: 'next-rotation' });
    const history = [item.provider.seed.secret];
    for (let rotation = 1; rotation <= 20; rotation++) {
      const result = await item.rotate();
      expect(result.error).toBeUndefined();
      const secret = (await item.current()).clientSecret as string;
      history.push(secret);
      expect(await item.provider.tokenStatus(secret)).toBe(200);
      // The secret it replaced is in its grace period; the one before is gone.
      expect(await item.provider.tokenStatus(history.at(-2)!)).toBe(200);
      if (history.length >= 3) expect(await item.provider.tokenStatus(history.at(-3)!)).toBe(401);
      expect(item.provider.active()).toHaveLength(2);
    }
    // The provider refuses a third active secret, and never had to.
    expect(item.provider.calls.filter((call) => call.route === 'mint' && call.status === 409)).toHaveLength(
      0,
    );
  });
});

describe('a crash between minting and storing', () => {
  it('without idempotency, the retried rotation revokes the orphan and converges', async () => {
    const item = await rig();
    sm.inject(putSecretValueCrash);
    const first = await item.rotate();
    expect(first.ok).toBe(false);
    expect(first.failedStep).toBe('createSecret');
    const orphan = item.provider.secrets()[1]!;
    expect(orphan.revoked).toBe(false);
    const second = await item.rotate(true);
    expect(second.error).toBeUndefined();
    expect(second.versionId).toBe(first.versionId);
    expect(orphan.revoked).toBe(true);
    const secret = (await item.current()).clientSecret as string;
    expect(item.provider.active().map((record) => record.secret)).toEqual([secret]);
    expect(await item.provider.tokenStatus(secret)).toBe(200);
  });

  it('with grace-period revocation, the retried rotation stays within two active secrets', async () => {
    const item = await rig({ revoke: 'next-rotation' });
    expect((await item.rotate()).ok).toBe(true);
    sm.inject(putSecretValueCrash);
    expect((await item.rotate()).ok).toBe(false);
    const second = await item.rotate(true);
    expect(second.error).toBeUndefined();
    expect(item.provider.active()).toHaveLength(2);
    expect(item.provider.calls.filter((call) => call.status === 409)).toHaveLength(0);
  });

  it('with an idempotency key, the retried rotation stores the secret minted the first time', async () => {
    const item = await rig({ idempotencyHeader: 'Idempotency-Key' }, { idempotency: true });
    sm.inject(putSecretValueCrash);
    expect((await item.rotate()).ok).toBe(false);
    const minted = item.provider.secrets()[1]!;
    expect((await item.rotate(true)).ok).toBe(true);
    expect(item.provider.secrets()).toHaveLength(2);
    expect((await item.current()).clientSecret).toBe(minted.secret);
    expect(item.provider.active()).toEqual([minted]);
  });

  it('a lost mint answer is found by the orphan check, revoked, and minted once more', async () => {
    const item = await rig({ http: { ...FAST.http, timeoutMs: 400 } });
    item.provider.hangAfterMint(1);
    const result = await item.rotate();
    expect(result.error).toBeUndefined();
    const [, lost, kept] = item.provider.secrets();
    expect(lost!.revoked).toBe(true);
    expect((await item.current()).clientSecret).toBe(kept!.secret);
    expect(item.provider.active()).toHaveLength(1);
  });
});

describe('refusals', () => {
  it('fails testSecret and keeps the old secret current when the token endpoint refuses the new one', async () => {
    const item = await rig({ tokenPath: '/not-the-token-endpoint' });
    const result = await item.rotate();
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('testSecret');
    expect((await item.current()).clientSecret).toBe(item.provider.seed.secret);
  });

  it('refuses a loopback provider not listed in HTTP_API_KEY_ALLOWED_HOSTS before sending anything', async () => {
    const provider = await startOAuthProvider();
    open.push(provider);
    const target = oauthClientSecret({ config: configFor(provider) });
    const client = sm.client();
    const secretId = `oauth-client-secret-unlisted-${Date.now()}`;
    const value = JSON.stringify({ clientSecret: provider.seed.secret, secretId: provider.seed.id });
    trackSecrets(provider.seed.secret, value);
    await client.send(new CreateSecretCommand({ Name: secretId, SecretString: value }));
    const handler = createRotationHandler(target, { client, env: {} });
    const result = await rotateSecret({ client, secretId, handler });
    expect(result.ok).toBe(false);
    expect(result.error).toContain('HTTP_API_KEY_ALLOWED_HOSTS');
    expect(provider.calls).toHaveLength(0);
  });

  it("refuses a secret whose clientId is another client's, changing nothing", async () => {
    const item = await rig();
    const value = JSON.stringify({
      clientId: 'someone-else',
      clientSecret: item.provider.seed.secret,
      secretId: 'cs_1',
    });
    trackSecrets(value);
    const secretId = `oauth-client-secret-other-${Date.now()}`;
    await item.client.send(new CreateSecretCommand({ Name: secretId, SecretString: value }));
    const result = await rotateSecret({ client: item.client, secretId, handler: item.handler });
    expect(result.ok).toBe(false);
    expect(result.error).toContain('clientId');
    expect(result.error).toContain('someone-else');
    expect(item.provider.calls).toHaveLength(0);
    expect(item.provider.secrets()).toHaveLength(1);
  });

  it('names the field at fault in a bad configuration', () => {
    expect(() =>
      oauthClientSecret({ config: { baseUrl: 'http://example.com', clientId: 'a', secretsPath: '/s' } }),
    ).toThrow(/baseUrl/);
    expect(() =>
      oauthClientSecret({ config: { baseUrl: 'https://a.example', clientId: 'a:b', secretsPath: '/s' } }),
    ).toThrow(/clientId/);
    expect(() =>
      oauthClientSecret({
        config: { baseUrl: 'https://a.example', clientId: 'a', secretsPath: 'admin/secrets' },
      }),
    ).toThrow(/field secretsPath must be a path starting with a single "\/"/);
    const base = { baseUrl: 'https://a.example', clientId: 'a', secretsPath: '/s' };
    expect(() => oauthClientSecret({ config: { ...base, propagation: { maxWaitMs: -1 } } })).toThrow(
      /field propagation\.maxWaitMs/,
    );
    expect(() => oauthClientSecret({ config: { ...base, secretPointer: 'secret' } })).toThrow(
      /field secretPointer/,
    );
    expect(() => oauthClientSecret({ config: { ...base, http: 'fast' as never } })).toThrow(
      /field http must be a JSON object/,
    );
    expect(() =>
      oauthClientSecret({
        config: {
          baseUrl: 'https://a.example',
          clientId: 'a',
          secretsPath: '/s',
          revoke: 'later' as 'finish',
        },
      }),
    ).toThrow(/revoke/);
  });
});
