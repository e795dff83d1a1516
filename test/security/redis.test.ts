/**
 * Attacks on the Redis adapter, played by a fake Redis server on loopback that records every byte
 * it receives: it accepts any login (so guards that only ask "do these credentials log in?" pass)
 * except the pending user's, and answers OK to everything else. Each attack is recorded in the
 * security ledger with the credentials the fake received.
 */

import { describe, expect, it } from 'vitest';
import {
  redisAlternatingUsers,
  redisPasswordOverlap,
  redisSingleUser,
} from '../../src/adapters/redis/index.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import type { RotationTarget } from '../../src/core/target.ts';
import { rotateSecret } from '../../src/testing/index.ts';
import { useLocalSecretsManager } from '../support/local-secrets-manager.ts';
import { type AttackerDatabase, listen } from './support/attacker-databases.ts';
import { credentialsIn, recordAttack } from './support/ledger.ts';
import { secretCreator, trackedPassword } from './support/secrets.ts';

/**
 * A plaintext "Redis" that answers inline and RESP commands; `-WRONGPASS` for users in `refuse`.
 * Every byte it receives is kept in `received`.
 */
function startFakeRedis(refuse: readonly string[]): Promise<AttackerDatabase> {
  return listen((socket) => {
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (text.startsWith('PING')) socket.write('+PONG\r\n');
      else if (text.includes('AUTH')) {
        socket.write(
          refuse.some((user) => text.includes(`\r\n${user}\r\n`)) ? '-WRONGPASS invalid\r\n' : '+OK\r\n',
        );
      } else if (text.startsWith('*')) socket.write('+OK\r\n');
      // Anything else (a TLS ClientHello) gets no answer, as from a real plaintext Redis.
    });
  });
}

const local = useLocalSecretsManager({ maxAttempts: 1 });

const createSecret = secretCreator(() => local.client);

const TARGETS: ReadonlyArray<readonly [string, () => RotationTarget<unknown>]> = [
  ['redis-single-user', () => redisSingleUser() as RotationTarget<unknown>],
  ['redis-password-overlap', () => redisPasswordOverlap() as RotationTarget<unknown>],
  ['redis-alternating-users', () => redisAlternatingUsers() as RotationTarget<unknown>],
];

describe.each(TARGETS)('%s', (name, makeTarget) => {
  it("the rotated secret names the attacker's server: the master password never reaches it", async () => {
    const attacker = await startFakeRedis(['app_clone']);
    try {
      const masterPassword = trackedPassword('master');
      const masterArn = await createSecret('redis-master', {
        username: 'admin',
        password: masterPassword,
        host: '127.0.0.1',
        port: 1,
      });
      const current = trackedPassword('current');
      const arn = await createSecret('redis-attacked', {
        engine: 'redis',
        host: '127.0.0.1',
        port: attacker.port,
        username: 'app',
        password: current,
        masterarn: masterArn,
      });
      const handler = createRotationHandler(makeTarget(), {
        client: local.client,
        env: { REDIS_TLS_MODE: 'disable' },
      });
      const result = await rotateSecret({ client: local.client, secretId: arn, handler });
      const leaked = credentialsIn(attacker.received, [masterPassword]);
      recordAttack({
        attack: `${name}: rotated secret names the attacker's Redis, masterarn a real master`,
        blocked: !result.ok,
        leaked: leaked.length,
      });
      expect(result.ok).toBe(false);
      expect(result.error).toContain('the master credentials were not sent');
      expect(leaked).toEqual([]);
    } finally {
      await attacker.close();
    }
  });

  // Attacks that must fail on the app's own credentials, before the master secret matters.
  it.each([
    {
      title: 'a plaintext server under the default REDIS_TLS_MODE (verify-full) receives no password',
      secretName: 'redis-downgrade',
      env: { REDIS_CONNECT_TIMEOUT_MS: '500' },
      attack: 'a plaintext Redis under verify-full (TLS downgrade)',
      error: 'tls failure',
      refusedBeforeConnecting: false,
    },
    {
      title: 'a host DATABASE_ALLOWED_HOSTS does not list gets no connection at all',
      secretName: 'redis-unlisted',
      env: { REDIS_TLS_MODE: 'disable', DATABASE_ALLOWED_HOSTS: 'cache.internal.example' },
      attack: 'secret names a host DATABASE_ALLOWED_HOSTS does not list',
      error: 'DATABASE_ALLOWED_HOSTS does not list',
      refusedBeforeConnecting: true,
    },
  ])('$title', async ({ secretName, env, attack, error, refusedBeforeConnecting }) => {
    const attacker = await startFakeRedis([]);
    try {
      const current = trackedPassword('current');
      const arn = await createSecret(secretName, {
        engine: 'redis',
        host: '127.0.0.1',
        port: attacker.port,
        username: 'app',
        password: current,
        ...(name === 'redis-alternating-users'
          ? { masterarn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:m' }
          : {}),
      });
      const handler = createRotationHandler(makeTarget(), { client: local.client, env });
      const result = await rotateSecret({ client: local.client, secretId: arn, handler });
      const leaked = credentialsIn(attacker.received, [current]);
      recordAttack({ attack: `${name}: ${attack}`, blocked: !result.ok, leaked: leaked.length });
      expect(result.ok).toBe(false);
      expect(result.error).toContain(error);
      if (refusedBeforeConnecting) expect(attacker.connections()).toBe(0);
      expect(leaked).toEqual([]);
    } finally {
      await attacker.close();
    }
  });
});
