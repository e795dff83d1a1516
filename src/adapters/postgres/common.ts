/** What both PostgreSQL strategies share: parsing, endpoints, the pending-first check, testSecret. */
import { SecretShapeError, TargetRefusedError } from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import { credentialTargetParts, pendingAlreadyLogsIn } from '../database/strategy.ts';
import {
  type CredentialLabel,
  canLogIn,
  connectPostgres,
  type PostgresEndpoint,
  type PostgresLogin,
  tryConnect,
} from './connect.ts';
import { checkRedshiftPassword } from './redshift.ts';
import { alternatingPair, CLONE_SUFFIX, changeOwnPassword, type PasswordForm } from './roles.ts';
import {
  identifierBytes,
  MAX_IDENTIFIER_BYTES,
  type PostgresSecret,
  parsePostgresSecret,
  serializePostgresSecret,
} from './secret.ts';
import type { PostgresSettings } from './settings.ts';
import { WHO_AM_I } from './sql.ts';

/** `EXCLUDE_CHARACTERS` default for PostgreSQL, the same as AWS's templates. */
export const POSTGRES_EXCLUDE_CHARACTERS = ':/@"\'\\';

/** The endpoint a secret value names. */
export function endpointOf(secret: PostgresSecret): PostgresEndpoint {
  return { host: secret.host, port: secret.port, dbname: secret.dbname, ssl: secret.ssl };
}

/** The login a secret value holds, under a label for logs. */
export function loginOf(secret: PostgresSecret, label: CredentialLabel): PostgresLogin {
  return { username: secret.username, password: secret.password, label };
}

/** The parts of `RotationTarget` that both strategies implement the same way. */
export function commonTargetParts(adapter: string) {
  return credentialTargetParts(
    adapter,
    POSTGRES_EXCLUDE_CHARACTERS,
    parsePostgresSecret,
    serializePostgresSecret,
  );
}

/**
 * setSecret's first move (docs/protocol.md#setsecret): if the pending credentials already log in, there is nothing
 * to do. This is what makes a re-run after any failure safe.
 */
export async function pendingAlreadyWorks(
  pending: PostgresSecret,
  settings: PostgresSettings,
  ctx: StepContext,
): Promise<boolean> {
  return pendingAlreadyLogsIn(
    pending,
    () => canLogIn(endpointOf(pending), loginOf(pending, 'pending'), settings, ctx),
    ctx,
  );
}

/**
 * testSecret (docs/protocol.md#testsecret): log in with the pending credentials, check the server agrees who that is,
 * and run `PG_TEST_QUERY` when set. For the clone of alternating users, also check that its
 * sessions act as the original role, which is what keeps ownership shared (docs/protocol.md#shared-ownership-and-exact-grants).
 */
export async function verifyPending(
  pending: PostgresSecret,
  settings: PostgresSettings,
  ctx: StepContext,
  options: { readonly cloneMustActAsOriginal: boolean },
): Promise<void> {
  const session = await connectPostgres(endpointOf(pending), loginOf(pending, 'pending'), settings, ctx);
  try {
    const [who] = await session.query<{ session_user: string; current_user: string }>(
      WHO_AM_I,
      [],
      'checking the session user',
    );
    if (who?.session_user !== pending.username) {
      throw new TargetRefusedError(
        'rejected',
        `logged in as user "${pending.username}" but the server reports session user "${who?.session_user}"`,
      );
    }
    const pair = alternatingPair(pending.username);
    if (
      options.cloneMustActAsOriginal &&
      pending.username === pair.clone &&
      who.current_user === pair.clone
    ) {
      throw new TargetRefusedError(
        'rejected',
        `sessions of "${pair.clone}" act as themselves, not as "${pair.original}": what they create would be owned by the clone. Its "role" setting or its membership in "${pair.original}" is missing; run setSecret again (the master restores both)`,
      );
    }
    if (settings.testQuery) {
      await session.query(settings.testQuery, [], `running PG_TEST_QUERY as "${pending.username}"`);
    }
    ctx.logger.info('pending credentials verified', {
      user: pending.username,
      actsAs: who.current_user,
      tls: session.tls,
      testQuery: settings.testQuery !== undefined,
    });
  } finally {
    await session.close();
  }
}

/**
 * Logs in with the stored version `value` and lets the pending user set its own new password;
 * false, with nothing changed, when the server refuses that login.
 */
export async function changeOwnPasswordWith(
  value: PostgresSecret,
  label: 'current' | 'previous',
  pending: PostgresSecret,
  settings: PostgresSettings,
  ctx: StepContext,
): Promise<boolean> {
  const session = await tryConnect(endpointOf(value), loginOf(value, label), settings, ctx);
  if (!session) return false;
  try {
    await changeOwnPassword(
      session,
      pending.username,
      pending.password,
      passwordFormFor(pending, settings),
      ctx,
    );
  } finally {
    await session.close();
  }
  return true;
}

/** The clone's name must fit PostgreSQL's 63-byte limit; checked before anything changes. */
export function checkPairFits(username: string): { original: string; clone: string; other: string } {
  const pair = alternatingPair(username);
  const bytes = identifierBytes(pair.clone);
  if (bytes > MAX_IDENTIFIER_BYTES) {
    throw new SecretShapeError(
      'username',
      `"${pair.original}" cannot alternate: its clone "${pair.clone}" would be ${bytes} bytes, over PostgreSQL's limit of ${MAX_IDENTIFIER_BYTES} bytes for role names (nothing was changed)`,
      `use a user name of at most ${MAX_IDENTIFIER_BYTES - CLONE_SUFFIX.length} bytes, or the single-user rotation`,
    );
  }
  return pair;
}

/**
 * How the new password of `secret` is sent: a Redshift hash (`PG_REDSHIFT_PASSWORD_HASH`) for
 * `"engine": "redshift"`, a SCRAM-SHA-256 verifier (`PG_SCRAM_ITERATIONS`) otherwise.
 */
export function passwordFormFor(secret: PostgresSecret, settings: PostgresSettings): PasswordForm {
  return secret.engine === 'redshift'
    ? { kind: 'redshift', hash: settings.redshiftPasswordHash }
    : { kind: 'scram', iterations: settings.scramIterations };
}

/**
 * For a Redshift secret, the password about to be set must meet Redshift's rules; checked before
 * any login, so a bad password changes nothing (the server cannot check a hash).
 */
export function checkPasswordForEngine(secret: PostgresSecret): void {
  if (secret.engine === 'redshift') checkRedshiftPassword(secret.password, 'password');
}
