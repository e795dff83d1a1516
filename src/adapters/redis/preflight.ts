// `check` for Redis / Valkey secrets: reachability, TLS and the current login; for alternating users
// also the master. Read-only: it logs in (AUTH) and closes.
import type { PreflightFinding, StepContext } from '../../core/target.ts';
import { databasePreflight, type Strategy } from '../database/preflight.ts';
import { endpointOf } from './common.ts';
import { openRedis } from './connect.ts';
import { DEFAULT_REDIS_PORT, type RedisSecret } from './secret.ts';
import { REDIS_ENV, readRedisSettings } from './settings.ts';

export function redisPreflight(
  secret: RedisSecret,
  ctx: StepContext,
  strategy: Strategy,
): Promise<PreflightFinding[]> {
  const settings = readRedisSettings(ctx.env);
  const alternating = strategy === 'alternating-users';
  return databasePreflight(secret, ctx, {
    env: REDIS_ENV,
    tlsMode: settings.tlsMode,
    defaultPort: DEFAULT_REDIS_PORT,
    accessFix: 'switch the ACL user on, or fix "username"',
    connect: (login, who) => openRedis(endpointOf(secret), { ...login, label: who }, settings, ctx),
    reachable: () => `${secret.host}:${secret.port}`,
    current: async () => [
      {
        check: 'current login',
        status: 'ok',
        detail: `user "${secret.username}" logs in with the AWSCURRENT password`,
      },
    ],
    master:
      alternating || secret.masterarn
        ? {
            missing: {
              status: settings.preProvisionedPair ? 'warn' : 'fail',
              fix: 'set "masterarn" to the ARN of a secret holding an ACL user that may run ACL SETUSER',
            },
            loginNote: `; it ${alternating ? 'manages the pair' : 'can reset the password'} with ACL SETUSER`,
          }
        : undefined,
  });
}
