/** What both MySQL strategies share: the target parts, testSecret, logins and the pending-first check. */
import type { StepContext } from '../../core/target.ts';
import type { MasterCredentials } from '../../database/secret.ts';
import { credentialTargetParts } from '../database/strategy.ts';
import {
  type Endpoint,
  type Login,
  type MysqlSession,
  openSession,
  rowText,
  tryOpenSession,
} from './connect.ts';
import { type MysqlSecret, parseMysqlSecret, serializeMysqlSecret } from './secret.ts';
import { MYSQL_ENV, type MysqlSettings } from './settings.ts';

/**
 * AWS's default `EXCLUDE_CHARACTERS` for MySQL and MariaDB: characters that commonly break
 * connection strings and shell quoting.
 */
const MYSQL_DEFAULT_EXCLUDE_CHARACTERS = '/@"\'\\';

export function commonTargetParts(adapter: string) {
  return credentialTargetParts(
    adapter,
    MYSQL_DEFAULT_EXCLUDE_CHARACTERS,
    parseMysqlSecret,
    serializeMysqlSecret,
  );
}

/** testSecret: the pending credentials log in, and `MYSQL_TEST_QUERY` runs when set. */
export async function verifyPending(pending: MysqlSecret, config: MysqlSettings, ctx: StepContext) {
  const session = await openSession(endpointOf(pending), loginOf(pending, 'pending'), config, ctx);
  try {
    if (config.testQuery !== undefined) {
      await session.run({ label: `run ${MYSQL_ENV.testQuery}`, text: config.testQuery, sensitive: false });
    }
    ctx.logger.info('the pending credentials work', {
      user: pending.username,
      server: session.flavour.label,
      tls: session.tls,
      testQuery: config.testQuery !== undefined,
    });
  } finally {
    await session.close();
  }
}

/** setSecret's first move (docs/protocol.md#setsecret): nothing to change when the pending password already logs in. */
export async function pendingAlreadyWorks(
  pending: MysqlSecret,
  config: MysqlSettings,
  ctx: StepContext,
  secrets: readonly string[],
): Promise<boolean> {
  if (!(await logsIn(pending, 'pending', config, ctx, secrets))) return false;
  ctx.logger.info('the pending password already works; nothing to change', { user: pending.username });
  return true;
}

export async function logsIn(
  value: MysqlSecret,
  version: Version,
  config: MysqlSettings,
  ctx: StepContext,
  secrets?: readonly string[],
): Promise<boolean> {
  const session = await tryLogin(value, version, config, ctx, secrets);
  await session?.close();
  return session !== undefined;
}

type Version = 'pending' | 'current' | 'previous' | 'revoked';

/** `undefined` when the server refuses the credentials of `value`. */
export function tryLogin(
  value: MysqlSecret,
  version: Version,
  config: MysqlSettings,
  ctx: StepContext,
  secrets?: readonly string[],
): Promise<MysqlSession | undefined> {
  return tryOpenSession(endpointOf(value), loginOf(value, version), config, ctx, secrets);
}

export function endpointOf(secret: MysqlSecret): Endpoint {
  return { host: secret.host, port: secret.port, database: secret.dbname, ssl: secret.ssl };
}

function loginOf(secret: MysqlSecret, version: Version): Login {
  return { username: secret.username, password: secret.password, source: `the ${version} version` };
}

export function masterLogin(master: MasterCredentials): Login {
  return { username: master.username, password: master.password, source: 'the master secret' };
}

export function firstText(rows: ReadonlyArray<Record<string, unknown>>): string {
  const row = rows[0];
  return row ? rowText(Object.values(row)[0]) : '';
}
