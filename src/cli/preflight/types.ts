/**
 * The shape of `check`'s findings, shared by the target-specific preflights.
 */

import { type MasterCredentials, parseMasterSecret } from '../../adapters/database/secret.ts';
import type { Env } from '../../core/config.ts';
import type { StepContext } from '../../core/target.ts';

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
 * adapter (SPEC 7), the fix is ours.
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
 * const master = await masterFinding(input.ctx, secret.masterarn, findings);
 * if (!master) return findings;
 * ```
 */
export async function masterFinding(
  ctx: StepContext,
  masterArn: string,
  findings: PreflightFinding[],
): Promise<MasterCredentials | undefined> {
  try {
    const master = parseMasterSecret(await ctx.readSecret(masterArn), masterArn);
    findings.push({
      check: 'master secret',
      status: 'ok',
      detail: `${masterArn} readable, user "${master.username}"`,
    });
    return master;
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
}
