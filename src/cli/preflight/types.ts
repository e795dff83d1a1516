/**
 * The shape of `check`'s findings, shared by the target-specific preflights.
 */

import { type MasterCredentials, parseMasterSecret } from '../../adapters/database/secret.ts';
import { allowPlaintextHint, type TlsMode, type TlsOutcome } from '../../adapters/database/tls.ts';
import type { Env } from '../../core/config.ts';
import { TargetRefusedError, TargetUnreachableError } from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import { describeServer, requireMasterServer, type ServerAddress } from '../../database/hosts.ts';

/**
 * How a check came out: `fail` makes `check` exit 1; `warn` does not.
 *
 * @example
 * ```ts
 * const failed = findings.some((finding) => finding.status === 'fail');
 * ```
 */
export type FindingStatus = 'ok' | 'warn' | 'fail' | 'skip';

/**
 * One finding of a preflight, with the fix when something is wrong. Never holds a secret value.
 *
 * @example
 * ```ts
 * const finding: PreflightFinding = { check: 'TLS', status: 'warn', detail: 'the server offers no TLS', fix: 'enable TLS on the server' };
 * ```
 */
export interface PreflightFinding {
  readonly check: string;
  readonly status: FindingStatus;
  readonly detail: string;
  readonly fix?: string;
}

/**
 * What a target-specific preflight receives.
 *
 * @example
 * ```ts
 * const findings = await postgresPreflight(value, { env, ctx, strategy: 'single-user' });
 * ```
 */
export interface PreflightInput {
  /** The rotation function's environment (adapter settings such as PG_CA_BUNDLE). */
  readonly env: Env;
  /** Logger, metrics, redaction and `readSecret` for the master secret. */
  readonly ctx: StepContext;
  readonly strategy: 'single-user' | 'alternating-users' | undefined;
}

/**
 * A target-specific preflight: reads and connects, changes nothing.
 *
 * @example
 * ```ts
 * const preflight: Preflight = async (value, input) => [{ check: 'target', status: 'ok', detail: 'reachable' }];
 * ```
 */
export type Preflight = (value: unknown, input: PreflightInput) => Promise<PreflightFinding[]>;

/**
 * The finding for an error thrown by a connection attempt: the message is already sanitised by the
 * adapter (docs/protocol.md#security-rules), the fix is ours.
 *
 * @example
 * ```ts
 * findings.push(failure('current login', error, 'put the working password in AWSCURRENT'));
 * ```
 */
export function failure(check: string, error: unknown, fix: string): PreflightFinding {
  return { check, status: 'fail', detail: error instanceof Error ? error.message : String(error), fix };
}

/**
 * Reads and checks the master secret named by `masterarn`, adding its finding; `undefined` when it
 * cannot be used (the finding says why and how to fix it).
 *
 * @example
 * ```ts
 * const master = await masterFinding(input.ctx, secret.masterarn, findings, secret, 5432);
 * if (!master) return findings;
 * ```
 */
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

/** What a connection fix says for one engine. */
export interface EngineFixes {
  /** The adapter's CA bundle variable, e.g. `PG_CA_BUNDLE`. */
  readonly caVariable: string;
  /** The adapter's certificate-name variable, e.g. `PG_TLS_SERVERNAME`. */
  readonly serverNameVariable: string;
  /** The adapter's TLS mode variable, e.g. `PG_TLS_MODE`. */
  readonly tlsModeVariable: string;
  /** The fix when the login works but the database refuses access. */
  readonly accessFix: string;
}

/**
 * The fix for a failed database connection, by the adapter's sanitised cause.
 *
 * @example
 * ```ts
 * connectionFix(error, 'master', { caVariable: 'PG_CA_BUNDLE', serverNameVariable: 'PG_TLS_SERVERNAME', tlsModeVariable: 'PG_TLS_MODE', accessFix: 'fix "dbname"' });
 * ```
 */
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

/**
 * The TLS finding for how a connection ended up, naming the mode it followed: verified TLS, or
 * plaintext because the mode allowed it (with how to get TLS, and for a local database how to
 * keep plaintext).
 *
 * @example
 * ```ts
 * findings.push(tlsFinding('verified', 'verify-full', 'PG_TLS_MODE'));
 * ```
 */
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
