import { createServer, type Server, type Socket } from 'node:net';
import { DatabaseError } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sanitizePostgresError } from '../../../src/adapters/postgres/connect.ts';
import { postgresAlternatingUsers, postgresSingleUser } from '../../../src/adapters/postgres/index.ts';
import { TargetRefusedError, TargetUnreachableError } from '../../../src/core/errors.ts';
import { capturedOutput, trackSecrets } from '../../support/leak-scan.ts';
import { freePort } from '../../support/ports.ts';
import { directContext, Rig, rejection, setupPassword, VERSIONS } from './rig.ts';

function secretAt(host: string, port: number, username: string, password: string) {
  return JSON.stringify({ engine: 'postgres', host, port, username, password, ssl: false });
}

describe.each(VERSIONS)('sanitised connection failures against PostgreSQL %i', (version) => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await Rig.start({ version });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  async function verifyFails(env: Record<string, string>, secret: Record<string, unknown>) {
    const target = postgresSingleUser();
    return rejection(target.verify(target.parse(JSON.stringify(secret)), directContext(env)));
  }

  it('a wrong password is an authentication failure naming user and host, not the password', async () => {
    const right = setupPassword();
    const wrong = setupPassword();
    await rig.createRole('err_auth', right);
    const error = await verifyFails({}, rig.secretFor('err_auth', wrong));
    expect(error).toBeInstanceOf(TargetRefusedError);
    expect((error as TargetRefusedError).failure).toBe('authentication');
    expect(error.message).toContain(`user "err_auth" at 127.0.0.1:${rig.db.port}`);
    expect(error.message).toContain('28P01');
    expect(error.message).not.toContain(wrong);
    expect(error.cause).toBeUndefined();
  });

  it('a role that may not log in is an authentication failure', async () => {
    const password = setupPassword();
    await rig.createRole('err_nologin', password);
    await rig.db.query('ALTER ROLE err_nologin NOLOGIN');
    const error = await verifyFails({}, rig.secretFor('err_nologin', password));
    expect((error as TargetRefusedError).failure).toBe('authentication');
    expect(error.message).toContain('28000');
  });

  it('a missing database is a rejection that points at "dbname"', async () => {
    const password = setupPassword();
    await rig.createRole('err_db', password);
    const error = await verifyFails({}, rig.secretFor('err_db', password, { dbname: 'no_such_db' }));
    expect((error as TargetRefusedError).failure).toBe('rejected');
    expect(error.message).toContain('3D000');
    expect(error.message).toContain('check "dbname"');
  });

  it('a refused privilege in the permission probe is a permission failure', async () => {
    const password = setupPassword();
    await rig.createRole('err_perm', password);
    await rig.db.query('CREATE TABLE err_private (id int)');
    const error = await verifyFails(
      { PG_TEST_QUERY: 'SELECT * FROM err_private' },
      rig.secretFor('err_perm', password),
    );
    expect(error).toBeInstanceOf(TargetRefusedError);
    expect((error as TargetRefusedError).failure).toBe('permission');
    expect(error.message).toContain('running PG_TEST_QUERY as "err_perm"');
  });

  it('a statement running past PG_STATEMENT_TIMEOUT_MS is a timeout', async () => {
    const password = setupPassword();
    await rig.createRole('err_slow', password);
    const error = await verifyFails(
      { PG_TEST_QUERY: 'SELECT pg_sleep(30)', PG_STATEMENT_TIMEOUT_MS: '200' },
      rig.secretFor('err_slow', password),
    );
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as TargetUnreachableError).failure).toBe('timeout');
    expect(error.message).toContain('57014');
    expect(error.message).toContain('PG_STATEMENT_TIMEOUT_MS');
  });

  it("gives a statement up before the function's deadline, however long PG_STATEMENT_TIMEOUT_MS is", async () => {
    const password = setupPassword();
    await rig.createRole('err_deadline', password);
    const target = postgresSingleUser();
    // Three seconds left in the invocation; the statement would take twenty.
    const ctx = {
      ...directContext({ PG_TEST_QUERY: 'SELECT pg_sleep(20)', PG_STATEMENT_TIMEOUT_MS: '60000' }),
      remainingTimeMs: () => 3_000,
    };
    const error = await rejection(
      target.verify(target.parse(JSON.stringify(rig.secretFor('err_deadline', password))), ctx),
    );
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as TargetUnreachableError).failure).toBe('timeout');
    expect(error.message).toContain("the function's deadline");
  });

  it('keeps every secret out of the captured output of a failing alternating rotation', async () => {
    const initial = setupPassword();
    await rig.createRole('err_leak', initial);
    const arn = await rig.createSecret(
      'leak',
      rig.secretFor('err_leak', initial, { masterarn: rig.masterArn }),
    );
    // Break the current credentials: the master guard refuses, and every step logs.
    await rig.setRolePassword('err_leak', setupPassword());
    const result = await rig.rotate(arn, rig.handler(postgresAlternatingUsers()));
    expect(result.ok).toBe(false);
    const pending = await rig.value(arn, 'AWSPENDING');
    const output = capturedOutput();
    expect(output).toContain('err_leak');
    for (const secret of [initial, pending.password, rig.db.superuser.password]) {
      expect(output).not.toContain(secret);
    }
  });
});

describe('sanitised failures without a database', () => {
  const sockets = new Set<Socket>();
  let silent: Server;
  let silentPort: number;
  beforeAll(async () => {
    // Accepts connections and never says a word: a firewall that drops, a hung server.
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  const password = 'Never-Printed-Password-1';
  trackSecrets(password);

  it('nothing listening is a network failure', async () => {
    const target = postgresSingleUser();
    const port = await freePort();
    const error = await rejection(
      target.verify(target.parse(secretAt('127.0.0.1', port, 'app', password)), directContext({})),
    );
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as TargetUnreachableError).failure).toBe('network');
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('a server that never answers is a timeout after PG_CONNECT_TIMEOUT_MS', async () => {
    const target = postgresSingleUser();
    const error = await rejection(
      target.verify(
        target.parse(secretAt('127.0.0.1', silentPort, 'app', password)),
        directContext({ PG_CONNECT_TIMEOUT_MS: '300' }),
      ),
    );
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as TargetUnreachableError).failure).toBe('timeout');
    expect(error.message).toContain('PG_CONNECT_TIMEOUT_MS');
  });

  it('blanks secrets out of server messages and never passes on an unknown driver message', () => {
    const server = new DatabaseError(`syntax error at or near "${password}"`, 0, 'error');
    server.code = '42601';
    const scrubbed = sanitizePostgresError(server, 'running a statement', [password]);
    expect(scrubbed.message).toContain('[REDACTED]');
    expect(scrubbed.message).not.toContain(password);

    const unknown = sanitizePostgresError(new Error(`driver exploded with ${password}`), 'logging in');
    expect(unknown).toBeInstanceOf(TargetUnreachableError);
    expect(unknown.message).not.toContain(password);
    expect(unknown.message).toContain('unexpected driver failure');

    const unreachable = Object.assign(new Error('connect EHOSTUNREACH'), { code: 'EHOSTUNREACH' });
    expect((sanitizePostgresError(unreachable, 'logging in') as TargetUnreachableError).failure).toBe(
      'network',
    );
  });
});
