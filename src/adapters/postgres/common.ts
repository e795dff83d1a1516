/** What both PostgreSQL strategies share: parsing, endpoints, the pending-first check, testSecret. */
import { SecretShapeError, TargetRefusedError } from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import { credentialTargetParts, pendingAlreadyLogsIn } from '../database/strategy.ts';
import type { CredentialLabel, PostgresEndpoint, PostgresLogin } from './connect.ts';
import { checkRedshiftPassword } from './redshift.ts';
import {
  alternatingPair,
  CLONE_SUFFIX,
  changeOwnPassword,
  type PasswordForm,
  requireSessionUser,
} from './roles.ts';
import {
  identifierBytes,
  MAX_IDENTIFIER_BYTES,
  type PostgresSecret,
  parsePostgresSecret,
  serializePostgresSecret,
} from './secret.ts';
import type { PostgresSettings } from './settings.ts';

export const POSTGRES_EXCLUDE_CHARACTERS = ':/@"\'\\';

/** pg and TLS load with the first connection, not at cold start: createSecret and finishSecret never connect. */
export const driver = () => import('./connect.ts');

export function endpointOf(secret: PostgresSecret): PostgresEndpoint {
  return { host: secret.host, port: secret.port, dbname: secret.dbname, ssl: secret.ssl };
}

export function loginOf(secret: PostgresSecret, label: CredentialLabel): PostgresLogin {
  return { username: secret.username, password: secret.password, label };
}

export function commonTargetParts(adapter: string) {
  return credentialTargetParts(
    adapter,
    POSTGRES_EXCLUDE_CHARACTERS,
    parsePostgresSecret,
    serializePostgresSecret,
  );
}

/** setSecret's first move (docs/protocol.md#setsecret): what makes a re-run after any failure safe. */
export async function pendingAlreadyWorks(
  pending: PostgresSecret,
  settings: PostgresSettings,
  ctx: StepContext,
): Promise<boolean> {
  return pendingAlreadyLogsIn(
    pending,
    async () => (await driver()).tryConnect(endpointOf(pending), loginOf(pending, 'pending'), settings, ctx),
    ctx,
  );
}

/** For an alternating clone, its sessions must act as the original: that keeps ownership shared. */
export async function verifyPending(
  pending: PostgresSecret,
  settings: PostgresSettings,
  ctx: StepContext,
  options: { readonly cloneMustActAsOriginal: boolean },
): Promise<void> {
  const { connectPostgres } = await driver();
  const session = await connectPostgres(endpointOf(pending), loginOf(pending, 'pending'), settings, ctx);
  try {
    const who = await requireSessionUser(session, pending.username);
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

/** False, with nothing changed, when the server refuses the login. */
export async function changeOwnPasswordWith(
  value: PostgresSecret,
  label: 'current' | 'previous',
  pending: PostgresSecret,
  settings: PostgresSettings,
  ctx: StepContext,
): Promise<boolean> {
  const { tryConnect } = await driver();
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

export function passwordFormFor(secret: PostgresSecret, settings: PostgresSettings): PasswordForm {
  return secret.engine === 'redshift'
    ? { kind: 'redshift', hash: settings.redshiftPasswordHash }
    : { kind: 'scram', iterations: settings.scramIterations };
}

/** Checked before any login: the server cannot check a hash. */
export function checkPasswordForEngine(secret: PostgresSecret): void {
  if (secret.engine === 'redshift') checkRedshiftPassword(secret.password, 'password');
}
