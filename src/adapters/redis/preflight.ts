// `check` for Redis / Valkey secrets: reachability, TLS and the current login; for alternating users
// also the master. Read-only: it logs in (AUTH) and closes.
import type { PreflightFinding, StepContext } from '../../core/target.ts';
import { effectiveTlsMode } from '../../database/tls.ts';
import {
  connectFailure,
  connectionFix,
  type EngineFixes,
  failure,
  masterFinding,
  type Strategy,
  tlsFinding,
} from '../database/preflight.ts';
import { endpointOf, loginOf } from './common.ts';
import { openRedis } from './connect.ts';
import { DEFAULT_REDIS_PORT, type RedisSecret } from './secret.ts';
import { readRedisSettings } from './settings.ts';

const REDIS_FIXES: EngineFixes = {
  caVariable: 'REDIS_CA_BUNDLE',
  serverNameVariable: 'REDIS_TLS_SERVERNAME',
  tlsModeVariable: 'REDIS_TLS_MODE',
  accessFix: 'switch the ACL user on, or fix "username"',
};

export async function redisPreflight(
  secret: RedisSecret,
  ctx: StepContext,
  strategy: Strategy,
): Promise<PreflightFinding[]> {
  const settings = readRedisSettings(ctx.env);
  const where = `${secret.host}:${secret.port}`;
  try {
    const session = await openRedis(endpointOf(secret), loginOf(secret, 'current'), settings, ctx);
    session.close();
    const findings: PreflightFinding[] = [
      { check: 'database reachable', status: 'ok', detail: where },
      tlsFinding(session.tls, effectiveTlsMode(settings.tlsMode, secret.ssl), 'REDIS_TLS_MODE'),
      {
        check: 'current login',
        status: 'ok',
        detail: `user "${secret.username}" logs in with the AWSCURRENT password`,
      },
    ];
    if (strategy === 'alternating-users' || secret.masterarn) {
      findings.push(...(await masterFindings(secret, ctx, settings, strategy)));
    }
    return findings;
  } catch (error) {
    return connectFailure(error, where, REDIS_FIXES);
  }
}

async function masterFindings(
  secret: RedisSecret,
  ctx: StepContext,
  settings: ReturnType<typeof readRedisSettings>,
  strategy: Strategy,
): Promise<PreflightFinding[]> {
  if (!secret.masterarn) {
    return [
      {
        check: 'master secret',
        status: settings.preProvisionedPair ? 'warn' : 'fail',
        detail: 'the secret has no "masterarn"',
        fix: 'set "masterarn" to the ARN of a secret holding an ACL user that may run ACL SETUSER',
      },
    ];
  }
  const findings: PreflightFinding[] = [];
  const master = await masterFinding(ctx, secret.masterarn, findings, secret, DEFAULT_REDIS_PORT);
  if (!master) return findings;
  try {
    const login = { username: master.username, password: master.password, label: 'master' } as const;
    const session = await openRedis(endpointOf(secret), login, settings, ctx);
    session.close();
    const role = strategy === 'alternating-users' ? 'manages the pair' : 'can reset the password';
    findings.push({
      check: 'master login',
      status: 'ok',
      detail: `user "${master.username}" logs in (TLS: ${session.tls}); it ${role} with ACL SETUSER`,
    });
  } catch (error) {
    findings.push(failure('master login', error, connectionFix(error, 'master', REDIS_FIXES)));
  }
  return findings;
}
