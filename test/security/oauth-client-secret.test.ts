/**
 * The OAuth client-secret adapter sends a client secret only where the deployer allows: the same
 * destination rules as API keys (HTTP_API_KEY_ALLOWED_HOSTS; loopback and private addresses only
 * when listed exactly, also after DNS). An attacker's raw TCP server on loopback records whatever
 * reaches it; each attack is recorded in the security ledger.
 */
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { expect, it } from 'vitest';
import { type AddressLookup, oauthClientSecret } from '../../src/adapters/oauth-client-secret/index.ts';
import type { Env } from '../../src/core/config.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import { rotateSecret } from '../../src/testing/index.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { useLocalSecretsManager } from '../support/local-secrets-manager.ts';
import { listen } from './support/attacker-databases.ts';
import { credentialsIn, recordAttack } from './support/ledger.ts';

const local = useLocalSecretsManager();
let counter = 0;

/** A raw TCP listener that answers nothing and records every byte and connection it gets. */
const startAttacker = () => listen(() => undefined);

async function attempt(baseUrl: string, env: Env, lookup?: AddressLookup) {
  const clientSecret = `ocs_attack_${++counter}_${Date.now()}_secretvalue`;
  const value = JSON.stringify({ clientSecret, secretId: 'cs_1' });
  trackSecrets(clientSecret, value);
  const secretId = `oauth-security-${counter}-${Date.now()}`;
  await local.client.send(new CreateSecretCommand({ Name: secretId, SecretString: value }));
  const target = oauthClientSecret({
    config: { baseUrl, clientId: 'billing-service', secretsPath: '/admin/secrets', http: { attempts: 1 } },
    ...(lookup ? { lookup } : {}),
  });
  const handler = createRotationHandler(target, { client: local.client, env });
  const result = await rotateSecret({ client: local.client, secretId, handler });
  // What the attacker could do with a secret: Basic carries "client:secret", so look for that too.
  const credentials = [clientSecret, `billing-service:${clientSecret}`];
  return { result, credentials };
}

it.each([
  ['HTTP_API_KEY_ALLOWED_HOSTS unset: a loopback provider address is refused', {}],
  [
    'HTTP_API_KEY_ALLOWED_HOSTS lists another host: the loopback provider is refused',
    { HTTP_API_KEY_ALLOWED_HOSTS: 'auth.example.com' },
  ],
])('oauth-client-secret: %s before anything is sent', async (attack, env) => {
  const attacker = await startAttacker();
  const { result, credentials } = await attempt(`http://127.0.0.1:${attacker.port}`, env);
  const leaked = credentialsIn(attacker.received, credentials).length;
  recordAttack({
    attack: `oauth-client-secret: ${attack}`,
    blocked: !result.ok && attacker.connections() === 0,
    leaked,
  });
  expect(result.ok).toBe(false);
  expect(result.failedStep).toBe('createSecret');
  expect(result.error).toContain('HTTP_API_KEY_ALLOWED_HOSTS');
  expect(attacker.connections()).toBe(0);
  expect(leaked).toBe(0);
  await attacker.close();
});

it('oauth-client-secret: a listed name that resolves to loopback (hostile DNS) is refused', async () => {
  const attacker = await startAttacker();
  const asked: string[] = [];
  const lookup: AddressLookup = async (hostname) => {
    asked.push(hostname);
    return [{ address: '127.0.0.1', family: 4 }];
  };
  const { result, credentials } = await attempt(
    `https://auth.example.com:${attacker.port}`,
    { HTTP_API_KEY_ALLOWED_HOSTS: 'auth.example.com' },
    lookup,
  );
  const leaked = credentialsIn(attacker.received, credentials).length;
  recordAttack({
    attack: 'oauth-client-secret: listed provider name resolves to loopback',
    blocked: !result.ok && attacker.connections() === 0,
    leaked,
  });
  expect(asked).toEqual(['auth.example.com']);
  expect(result.error).toMatch(/does not list 127\.0\.0\.1: host auth\.example\.com .* a loopback address/);
  expect(attacker.connections()).toBe(0);
  expect(leaked).toBe(0);
  await attacker.close();
});
