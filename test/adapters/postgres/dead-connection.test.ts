/**
 * A connection whose statement timed out or broke is given up, not talked on: no `ROLLBACK` (or
 * `ROLLBACK TO SAVEPOINT`) follows on it, the error names the statement that failed, and the
 * server rolls the transaction back when the connection ends. After an ordinary SQL error the
 * transaction is still rolled back on the connection, as before.
 *
 * The proxy in front of the server records what the adapter sends, including what it writes on a
 * stalled connection; nothing here measures time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresAlternatingUsers } from '../../../src/adapters/postgres/index.ts';
import type { PostgresSecret } from '../../../src/adapters/postgres/secret.ts';
import { TargetRefusedError, TargetUnreachableError } from '../../../src/core/errors.ts';
import type { RotationTarget } from '../../../src/core/target.ts';
import { directContext, Rig, rejection, type StoredSecret, setupPassword, VERSIONS } from './rig.ts';
import { StallProxy } from './stall-proxy.ts';

// Plaintext without asking for TLS first: the proxy's log then holds only the rotation's own
// connections.
const PLAIN = { PG_TLS_MODE: 'disable' } as const;

describe.each(VERSIONS)('postgres: a dead connection is given up, on PostgreSQL %i', (version) => {
  let rig: Rig;
  let proxy: StallProxy;
  beforeAll(async () => {
    rig = await Rig.start({ version });
    proxy = await StallProxy.start({ host: rig.db.host, port: rig.db.port });
  });
  afterAll(async () => {
    await proxy?.close();
    await rig?.stop();
  });

  /** The current and pending values of an alternating pair, reached through the proxy. */
  function pairThroughProxy(
    target: RotationTarget<PostgresSecret>,
    username: string,
    password: string,
    masterarn: string,
  ) {
    const stored = (user: string, secret: string): StoredSecret =>
      rig.secretFor(user, secret, { host: proxy.host, port: proxy.port, masterarn });
    const current = target.parse(JSON.stringify(stored(username, password)));
    const pending = target.parse(JSON.stringify(stored(`${username}_clone`, setupPassword())));
    const known = { current: async () => current, previous: async () => undefined };
    return { current, pending, known };
  }

  /** A master secret whose own server is the proxy the tests connect through. */
  function proxyMaster(login: { username: string; password: string }): Promise<string> {
    return rig.createSecret(
      `dc-master-${login.username}-${crypto.randomUUID()}`,
      rig.masterFor(login, proxy),
    );
  }

  /** Waits until the server has no session of the rotator left (the abandoned one has ended). */
  async function rotatorSessionsGone(): Promise<void> {
    await expect
      .poll(
        async () => {
          const [row] = await rig.db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'secrets-rotator'",
          );
          return proxy.openConnections + (row?.n ?? 0);
        },
        { timeout: 30_000, interval: 100 },
      )
      .toBe(0);
  }

  it('a stall at RELEASE SAVEPOINT: the timeout names that statement, nothing more is sent, and a retry converges', async () => {
    const password = setupPassword();
    await rig.createRole('dc_stall', password);
    const target = postgresAlternatingUsers();
    const { pending, known } = pairThroughProxy(
      target,
      'dc_stall',
      password,
      await proxyMaster(rig.db.superuser),
    );
    // Three seconds left in the invocation: every wait is cut to one second.
    const ctx = { ...directContext(PLAIN, rig.client), remainingTimeMs: () => 3_000 };

    // The first rotation creates the clone and copies the `role` setting inside a savepoint.
    proxy.begin(/^RELEASE SAVEPOINT\b/);
    const error = await rejection(target.apply(pending, known, ctx));
    proxy.disarm();

    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as TargetUnreachableError).failure).toBe('timeout');
    expect(error.message).toContain('releasing a savepoint');
    expect(error.message).not.toContain('rolling back');
    const stalled = proxy.sent.filter((message) => /^RELEASE SAVEPOINT\b/.test(message.what));
    expect(stalled).toHaveLength(1);
    expect(proxy.sent.filter((message) => message.connection === stalled[0]!.connection)).not.toContainEqual(
      expect.objectContaining({ what: expect.stringMatching(/^ROLLBACK/) }),
    );
    expect(proxy.afterStall()).toEqual([]);

    // The server rolled the transaction back when the connection ended: nothing of it remains,
    // and the retry (which creates the clone again) is not blocked by it.
    await rotatorSessionsGone();
    expect(await rig.db.query("SELECT 1 FROM pg_roles WHERE rolname = 'dc_stall_clone'")).toEqual([]);
    await target.apply(pending, known, directContext(PLAIN, rig.client));
    expect(await rig.canLogin(pending)).toBe(true);
  });

  it('a statement the server cancels at its statement timeout: no ROLLBACK follows on that connection', async () => {
    const first = setupPassword();
    const second = setupPassword();
    await rig.createRole('dc_lock', first);
    await rig.createRole('dc_lock_clone', second);
    const target = postgresAlternatingUsers({ preProvisionedPair: true });
    const { pending, known } = pairThroughProxy(
      target,
      'dc_lock',
      first,
      await proxyMaster(rig.db.superuser),
    );
    // Another transaction holds the clone's row, so the master's ALTER ROLE waits until the
    // server's statement timeout cancels it (SQLSTATE 57014); the connection itself is fine.
    const blocker = await rig.db.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query("ALTER ROLE dc_lock_clone VALID UNTIL 'infinity'");
      proxy.begin();
      const error = await rejection(
        target.apply(pending, known, directContext({ ...PLAIN, PG_STATEMENT_TIMEOUT_MS: '300' }, rig.client)),
      );
      expect(error).toBeInstanceOf(TargetUnreachableError);
      expect((error as TargetUnreachableError).failure).toBe('timeout');
      expect(error.message).toContain('57014');
      expect(error.message).toContain('changing the password of role "dc_lock_clone"');
      const sent = proxy.sent.map((message) => message.what);
      expect(sent).toContain('ALTER ROLE');
      expect(sent.filter((what) => what.startsWith('ROLLBACK'))).toEqual([]);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    await rotatorSessionsGone();
    expect(await rig.canLogin(pending)).toBe(false);
    expect(await rig.canLogin({ username: 'dc_lock_clone', password: second })).toBe(true);
  });

  it('after an ordinary SQL error it still rolls back on the same connection', async () => {
    // A master that may create roles but not alter a superuser: its ALTER ROLE is refused (42501).
    const masterPassword = setupPassword();
    await rig.createRole('dc_admin', masterPassword, 'CREATEROLE');
    const masterArn = await proxyMaster({ username: 'dc_admin', password: masterPassword });
    const first = setupPassword();
    await rig.createRole('dc_super', first, 'SUPERUSER');
    await rig.createRole('dc_super_clone', setupPassword(), 'SUPERUSER');
    const target = postgresAlternatingUsers({ preProvisionedPair: true });
    const { pending, known } = pairThroughProxy(target, 'dc_super', first, masterArn);

    proxy.begin();
    const error = await rejection(target.apply(pending, known, directContext(PLAIN, rig.client)));
    expect(error).toBeInstanceOf(TargetRefusedError);
    expect((error as TargetRefusedError).failure).toBe('permission');
    expect(error.message).toContain('changing the password of role "dc_super_clone"');
    const sent = proxy.sent.map((message) => message.what);
    // After the refusal the pending credentials are tried once on a fresh connection (a refused
    // setSecret may have been done already); the master's own connection ends as before.
    const afterAlter = sent.slice(sent.lastIndexOf('ALTER ROLE'));
    expect(afterAlter.slice(0, 3)).toEqual(['ALTER ROLE', 'ROLLBACK', 'terminate']);
    expect(afterAlter.slice(3).filter((what) => what !== 'sasl' && what !== 'terminate')).toEqual([
      'startup',
    ]);
  });

  it('after a setting the master may not copy, it rolls back to the savepoint and carries on', async () => {
    const masterPassword = setupPassword();
    await rig.createRole('dc_rds_admin', masterPassword, 'CREATEROLE');
    const masterArn = await proxyMaster({ username: 'dc_rds_admin', password: masterPassword });
    const initial = setupPassword();
    await rig.as({ username: 'dc_rds_admin', password: masterPassword }, (client) =>
      client.query(`CREATE ROLE dc_managed LOGIN`),
    );
    await rig.setRolePassword('dc_managed', initial);
    // Only a superuser may set this parameter, so the CREATEROLE master cannot copy it.
    await rig.db.query('ALTER ROLE dc_managed SET log_min_duration_statement = 250');
    const target = postgresAlternatingUsers();
    const { pending, known } = pairThroughProxy(target, 'dc_managed', initial, masterArn);

    proxy.begin();
    await target.apply(pending, known, directContext(PLAIN, rig.client));
    const sent = proxy.sent.map((message) => message.what);
    expect(sent).toContain('ROLLBACK TO SAVEPOINT COPY');
    expect(sent).toContain('COMMIT');
    expect(await rig.canLogin(pending)).toBe(true);
  });
});
