// Findings shared by the PostgreSQL and MySQL preflights of `check`.
import { TargetRefusedError, TargetUnreachableError } from '../../core/errors.ts';
import type { PreflightFinding, StepContext } from '../../core/target.ts';
import { describeServer, requireMasterServer, type ServerAddress } from '../../database/hosts.ts';
import { type MasterCredentials, parseMasterSecret } from '../../database/secret.ts';
import { allowPlaintextHint, type TlsMode, type TlsOutcome } from '../../database/tls.ts';

export type Strategy = 'single-user' | 'alternating-users';

/** The message of a connection error is already sanitised by the adapter; the fix is ours. */
export function failure(check: string, error: unknown, fix: string): PreflightFinding {
  return { check, status: 'fail', detail: error instanceof Error ? error.message : String(error), fix };
}

/** Reads the master secret and adds its findings; `undefined` when it cannot be used. */
export async function masterFinding(
  ctx: StepContext,
  masterArn: string,
  findings: PreflightFinding[],
  target: ServerAddress,
  defaultPort: number,
): Promise<MasterCredentials | undefined> {
  let master: MasterCredentials;
  try {
    master = parseMasterSecret(await ctx.readSecret(masterArn), masterArn);
    ctx.redact(master.password);
    findings.push({
      check: 'master secret',
      status: 'ok',
      detail: `${masterArn} readable, user "${master.username}"`,
    });
  } catch (error) {
    findings.push(
      failure(
        'master secret',
        error,
        'let the rotation function read it (secretsmanager:GetSecretValue, kms:Decrypt) and store {"username", "password"} in it',
      ),
    );
    return undefined;
  }
  // The same rule as the rotation: the master logs in nowhere but its own server.
  try {
    const verdict = await requireMasterServer(ctx, { masterArn, master, target, defaultPort });
    findings.push({
      check: 'master server',
      status: 'ok',
      detail:
        verdict.via === 'own server'
          ? `${describeServer(target)} is the master secret's own server`
          : `RDS reports ${describeServer(target)} as the ${verdict.role} of ${verdict.resource}`,
    });
    return master;
  } catch (error) {
    findings.push(
      failure(
        'master server',
        error,
        'store the master\'s own "host" and "port" in the master secret (or let RDS manage it), and point the secret at that server',
      ),
    );
    return undefined;
  }
}

/** The engine's variable names, and the fix when the login works but the database refuses access. */
export interface EngineFixes {
  readonly caVariable: string;
  readonly serverNameVariable: string;
  readonly tlsModeVariable: string;
  readonly accessFix: string;
}

export function connectionFix(error: unknown, who: string, engine: EngineFixes): string {
  if (error instanceof TargetUnreachableError) {
    return error.failure === 'tls'
      ? `fix TLS: trust the server's CA (${engine.caVariable}), set ${engine.serverNameVariable} for CNAME hosts; ${allowPlaintextHint(engine.tlsModeVariable)}`
      : 'check host and port in the secret, security groups / firewall and DNS from where the rotation function runs';
  }
  if (error instanceof TargetRefusedError && error.failure === 'authentication') {
    return `the ${who} password does not log in: put the working password in that secret (aws secretsmanager put-secret-value), or, after an interrupted rotation, finish it (rotate --via-service) rather than abandon it`;
  }
  return engine.accessFix;
}

/** The findings when the current user's connection fails: which stage failed, with its fix. */
export function connectFailure(error: unknown, where: string, engine: EngineFixes): PreflightFinding[] {
  const fix = connectionFix(error, 'AWSCURRENT', engine);
  if (error instanceof TargetUnreachableError && error.failure !== 'tls') {
    return [failure('database reachable', error, fix)];
  }
  return [
    { check: 'database reachable', status: 'ok', detail: `${where} answers` },
    failure(error instanceof TargetUnreachableError ? 'TLS' : 'current login', error, fix),
  ];
}

export function tlsFinding(outcome: TlsOutcome, mode: TlsMode, variable: string): PreflightFinding {
  switch (outcome) {
    case 'verified':
      return {
        check: 'TLS',
        status: 'ok',
        detail: `${variable}=${mode}: verified TLS (certificate and host name checked)`,
      };
    case 'disabled':
      return {
        check: 'TLS',
        status: 'warn',
        detail: `${variable}=disable: no TLS, credentials travel unencrypted (only SCRAM or hashed logins are allowed)`,
        fix: `enable TLS on the server and set ${variable}=verify-full; keep disable only for a local database`,
      };
    case 'plaintext':
      return {
        check: 'TLS',
        status: 'warn',
        detail: `${variable}=prefer: the server offers no TLS, so rotations go on in plaintext (a warning line and the TlsPlaintextFallback metric each time)`,
        fix: `enable TLS on the server and set ${variable}=verify-full; prefer is meant for a local database`,
      };
  }
}
