// The skeleton of `check` for PostgreSQL, MySQL and Redis: the current login, then the master's;
// each engine supplies its connection and its own findings.
import { TargetRefusedError, TargetUnreachableError } from '../../core/errors.ts';
import type { PreflightFinding, StepContext } from '../../core/target.ts';
import { describeServer, requireMasterServer } from '../../database/hosts.ts';
import {
  type DatabaseSecretValue,
  type MasterCredentials,
  parseMasterSecret,
} from '../../database/secret.ts';
import { allowPlaintextHint, effectiveTlsMode, type TlsMode, type TlsOutcome } from '../../database/tls.ts';

export type Strategy = 'single-user' | 'alternating-users';

interface PreflightSession {
  readonly tls: TlsOutcome;
  close(): unknown;
}

/** What one engine's `check` supplies to {@link databasePreflight}. */
interface PreflightEngine<Session extends PreflightSession> {
  /** The engine's TLS variables, for the fixes. */
  readonly env: { readonly tlsMode: string; readonly caBundle: string; readonly tlsServerName: string };
  readonly tlsMode: TlsMode;
  readonly defaultPort: number;
  /** The fix when the login works but the database refuses access. */
  readonly accessFix: string;
  /** Findings before any login (Redshift's rules). */
  readonly before?: readonly PreflightFinding[];
  connect(
    login: { readonly username: string; readonly password: string },
    who: 'current' | 'master',
  ): Promise<Session>;
  /** The detail of "database reachable", then the findings about the current login. */
  reachable(session: Session): string;
  current(session: Session): Promise<PreflightFinding[]>;
  /** Present when the strategy (or the secret) uses a master. */
  readonly master?: MasterCheck<Session> | undefined;
}

interface MasterCheck<Session> {
  /** The finding when the secret has no `masterarn`. */
  readonly missing: { readonly status: 'warn' | 'fail'; readonly fix: string };
  /** Users the master must not be. */
  readonly rotated?: readonly string[];
  /** Appended to the "master login" detail. */
  readonly loginNote?: string;
  /** What the master may do, and the fix when reading that fails. */
  readonly privileges?: {
    read(session: Session, master: MasterCredentials): Promise<PreflightFinding[]>;
    readonly fix: string;
  };
}

/** Read-only: logs in, reads catalogs and closes. */
export async function databasePreflight<Session extends PreflightSession>(
  secret: DatabaseSecretValue<string>,
  ctx: StepContext,
  engine: PreflightEngine<Session>,
): Promise<PreflightFinding[]> {
  const findings = [...(engine.before ?? [])];
  let session: Session;
  try {
    session = await engine.connect({ username: secret.username, password: secret.password }, 'current');
  } catch (error) {
    return [...findings, ...connectFailure(error, `${secret.host}:${secret.port}`, engine)];
  }
  try {
    findings.push(
      { check: 'database reachable', status: 'ok', detail: engine.reachable(session) },
      tlsFinding(session.tls, effectiveTlsMode(engine.tlsMode, secret.ssl), engine.env.tlsMode),
      ...(await engine.current(session)),
    );
  } finally {
    await session.close();
  }
  if (engine.master) findings.push(...(await masterFindings(secret, ctx, engine, engine.master)));
  return findings;
}

async function masterFindings<Session extends PreflightSession>(
  secret: DatabaseSecretValue<string>,
  ctx: StepContext,
  engine: PreflightEngine<Session>,
  check: MasterCheck<Session>,
): Promise<PreflightFinding[]> {
  if (!secret.masterarn) {
    const { status, fix } = check.missing;
    return [{ check: 'master secret', status, detail: 'the secret has no "masterarn"', fix }];
  }
  const arn = secret.masterarn;
  let master: MasterCredentials;
  try {
    master = parseMasterSecret(await ctx.readSecret(arn), arn);
    ctx.redact(master.password);
  } catch (error) {
    const fix =
      'let the rotation function read it (secretsmanager:GetSecretValue, kms:Decrypt) and store {"username", "password"} in it';
    return [failure('master secret', error, fix)];
  }
  const findings: PreflightFinding[] = [
    { check: 'master secret', status: 'ok', detail: `${arn} readable, user "${master.username}"` },
  ];
  // The same rule as the rotation: the master logs in nowhere but its own server.
  try {
    const verdict = await requireMasterServer(ctx, {
      masterArn: arn,
      master,
      target: secret,
      defaultPort: engine.defaultPort,
    });
    findings.push({
      check: 'master server',
      status: 'ok',
      detail:
        verdict.via === 'own server'
          ? `${describeServer(secret)} is the master secret's own server`
          : `RDS reports ${describeServer(secret)} as the ${verdict.role} of ${verdict.resource}`,
    });
  } catch (error) {
    const fix =
      'store the master\'s own "host" and "port" in the master secret (or let RDS manage it), and point the secret at that server';
    findings.push(failure('master server', error, fix));
    return findings;
  }
  if (check.rotated?.includes(master.username)) {
    findings.push({
      check: 'master secret',
      status: 'fail',
      detail: `the master user "${master.username}" is one of the rotated users`,
      fix: 'point masterarn at a separate administrative user',
    });
    return findings;
  }
  let session: Session;
  try {
    session = await engine.connect(master, 'master');
  } catch (error) {
    findings.push(failure('master login', error, connectionFix(error, 'master', engine)));
    return findings;
  }
  try {
    findings.push({
      check: 'master login',
      status: 'ok',
      detail: `user "${master.username}" logs in (TLS: ${session.tls})${check.loginNote ?? ''}`,
    });
    if (check.privileges) findings.push(...(await check.privileges.read(session, master)));
  } catch (error) {
    findings.push(failure('master privilege', error, check.privileges?.fix ?? ''));
  } finally {
    await session.close();
  }
  return findings;
}

/** The message of a connection error is already sanitised by the adapter; the fix is ours. */
function failure(check: string, error: unknown, fix: string): PreflightFinding {
  return { check, status: 'fail', detail: error instanceof Error ? error.message : String(error), fix };
}

function connectionFix(error: unknown, who: string, engine: PreflightEngine<PreflightSession>): string {
  if (error instanceof TargetUnreachableError) {
    return error.failure === 'tls'
      ? `fix TLS: trust the server's CA (${engine.env.caBundle}), set ${engine.env.tlsServerName} for CNAME hosts; ${allowPlaintextHint(engine.env.tlsMode)}`
      : 'check host and port in the secret, security groups / firewall and DNS from where the rotation function runs';
  }
  if (error instanceof TargetRefusedError && error.failure === 'authentication') {
    return `the ${who} password does not log in: put the working password in that secret (aws secretsmanager put-secret-value), or, after an interrupted rotation, finish it (rotate --via-service) rather than abandon it`;
  }
  return engine.accessFix;
}

/** The findings when the current user's connection fails: which stage failed, with its fix. */
function connectFailure(
  error: unknown,
  where: string,
  engine: PreflightEngine<PreflightSession>,
): PreflightFinding[] {
  const fix = connectionFix(error, 'AWSCURRENT', engine);
  if (error instanceof TargetUnreachableError && error.failure !== 'tls') {
    return [failure('database reachable', error, fix)];
  }
  return [
    { check: 'database reachable', status: 'ok', detail: `${where} answers` },
    failure(error instanceof TargetUnreachableError ? 'TLS' : 'current login', error, fix),
  ];
}

function tlsFinding(outcome: TlsOutcome, mode: TlsMode, variable: string): PreflightFinding {
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
