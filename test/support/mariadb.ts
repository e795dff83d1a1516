/**
 * Private MariaDB servers for tests, with password authentication enforced.
 *
 * The machine's own MariaDB trusts every login, so it cannot prove that a password works. Each
 * call to {@link startMariaDb} installs a new data directory with the system's `mariadb-install-db`
 * and runs `mariadbd` on a free loopback port. Before the instance is handed out, every account
 * except `root` (and the internal `mariadb.sys`) is dropped and every `root` account gets a random
 * password, so a TCP login only works with the right password.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
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
 * const admin: MariaDbCredentials = db.root;
 * ```
 */
export interface MariaDbCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Options for {@link startMariaDb}.
 *
 * @example
 * ```ts
 * const db = await startMariaDb({ tls: { cert: certs.certPath, key: certs.keyPath } });
 * ```
 */
export interface StartMariaDbOptions {
  /**
   * Turns TLS on with this server certificate and key (and optionally a CA for client
   * certificates), each given as a PEM file path or as the PEM text. They are copied into the
   * instance directory with the ownership the server needs.
   */
  tls?: { cert: string; key: string; ca?: string } | false;
  /**
   * Turns on the general query log, so {@link MariaDbInstance.readStatementLog} shows every
   * statement the server received, as it logs them.
   */
  logStatements?: boolean;
}

/**
 * Connection options a caller may add; the harness fixes address and credentials.
 *
 * @example
 * ```ts
 * const extras: MariaDbConnectionExtras = { ssl: { ca: certs.caCert } };
 * ```
 */
export type MariaDbConnectionExtras = Omit<
  mysql.ConnectionOptions,
  'host' | 'port' | 'user' | 'password' | 'database'
>;

/**
 * A running private MariaDB server. Stop it with {@link MariaDbInstance.stop}.
 *
 * @example
 * ```ts
 * const db = await startMariaDb();
 * try {
 *   await db.query('CREATE USER ?@? IDENTIFIED BY ?', ['app', '%', password]);
 *   expect(await db.canLogin('app', password)).toBe(true);
 * } finally {
 *   await db.stop();
 * }
 * ```
 */
export interface MariaDbInstance {
  /** Always the IPv4 loopback address: the server listens nowhere else. */
  readonly host: '127.0.0.1';
  /** The TCP port the server listens on. */
  readonly port: number;
  /** The server's `VERSION()`, e.g. `10.11.19-MariaDB-0+deb12u1`. */
  readonly version: string;
  /** The `root` account (all privileges, grant option); its password is random per instance. */
  readonly root: MariaDbCredentials;
  /** Whether the server was started with TLS. */
  readonly tls: boolean;
  /** Path of the server's error log. */
  readonly logPath: string;
  /**
   * Opens a connection over TCP (promise API): as root unless `user` is given. `extras` adds
   * options, e.g. `ssl`. Connections still open when the instance stops are closed by
   * {@link MariaDbInstance.stop}.
   */
  connect(
    user?: MariaDbCredentials,
    database?: string,
    extras?: MariaDbConnectionExtras,
  ): Promise<mysql.Connection>;
  /**
   * Tries to log in over TCP to `host` (default `127.0.0.1`) and reports whether the server
   * accepted the credentials: `false` only for access-denied refusals (errors 1045, 1698, 1130);
   * any other failure throws.
   */
  canLogin(
    username: string,
    password: string,
    host?: string,
    extras?: MariaDbConnectionExtras,
  ): Promise<boolean>;
  /** Runs one statement as root (`?` placeholders are escaped client-side) and returns its rows. */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** The server's error log written so far. */
  readLog(): Promise<string>;
  /**
   * The general query log written so far: every statement received, when started with
   * `logStatements`; an empty string otherwise.
   */
  readStatementLog(): Promise<string>;
  /** Stops the server and deletes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const INSTALL_DB = '/usr/bin/mariadb-install-db';
const MARIADBD = '/usr/sbin/mariadbd';
const ACCESS_DENIED_ERRORS = new Set([1045, 1698, 1130]);

/**
 * Starts a private MariaDB server on a free loopback port where every account needs a password,
 * with a random `root` password.
 *
 * Durability is relaxed (`innodb_flush_log_at_trx_commit=0`, no doublewrite, no binary log) to
 * start and run quickly. When run as root, the server runs as the `mysql` account (or `nobody`).
 * Host names are not resolved (`skip_name_resolve`): a TCP login from 127.0.0.1 matches accounts
 * whose host is `%` or `127.0.0.1`, never `localhost` (which only matches the Unix socket).
 *
 * @throws Error with the tail of the server log when the server fails to start.
 * @example
 * ```ts
 * const db = await startMariaDb();
 * const connection = await db.connect();
 * const [rows] = await connection.query('SELECT CURRENT_USER() AS me');
 * await connection.end();
 * await db.stop();
 * ```
 */
export async function startMariaDb(options: StartMariaDbOptions = {}): Promise<MariaDbInstance> {
  await requireExecutables(
    [INSTALL_DB, MARIADBD],
    'startMariaDb needs the system MariaDB server (apt-get install mariadb-server)',
  );
  const account = await serviceAccount(['mysql', 'nobody']);
  const dir = await makeInstanceDir('sr-maria-', account);
  try {
    return await installAndStart(dir, account, options);
  } catch (error) {
    await removeInstanceDir(dir);
    throw error;
  }
}

async function installAndStart(
  dir: string,
  account: ServiceAccount | undefined,
  options: StartMariaDbOptions,
): Promise<MariaDbInstance> {
  const dataDir = join(dir, 'data');
  const socketPath = join(dir, 'mysqld.sock');
  const logPath = join(dir, 'server.log');
  const statementLogPath = join(dir, 'statements.log');

  await run(
    INSTALL_DB,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      '--innodb-flush-log-at-trx-commit=0',
      '--innodb-doublewrite=0',
      '--innodb-use-native-aio=0',
      '--innodb-log-file-size=8M',
      // The bootstrap server's temporary tables must not share /tmp with parallel installs.
      `--tmpdir=${dir}`,
    ],
    { account, env: serverEnvironment() },
  );

  const tlsArgs: string[] = [];
  if (options.tls) {
    const certFile = join(dir, 'server.crt');
    const keyFile = join(dir, 'server.key');
    await writePrivateFile(certFile, await readPem(options.tls.cert), account);
    await writePrivateFile(keyFile, await readPem(options.tls.key), account);
    tlsArgs.push(`--ssl-cert=${certFile}`, `--ssl-key=${keyFile}`);
    if (options.tls.ca) {
      const caFile = join(dir, 'ca.crt');
      await writePrivateFile(caFile, await readPem(options.tls.ca), account);
      tlsArgs.push(`--ssl-ca=${caFile}`);
    }
  }

  const { server, port } = await startOnFreePort({
    name: 'startMariaDb',
    logPath,
    readyText: 'ready for connections',
    portTaken: /Address already in use|Can't start server: Bind/,
    start: (port) =>
      startServerProcess({
        command: MARIADBD,
        args: [
          '--no-defaults',
          `--datadir=${dataDir}`,
          `--socket=${socketPath}`,
          `--pid-file=${join(dir, 'mysqld.pid')}`,
          `--tmpdir=${dir}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          '--skip-name-resolve',
          '--skip-log-bin',
          '--character-set-server=utf8mb4',
          '--collation-server=utf8mb4_general_ci',
          '--performance-schema=OFF',
          '--innodb-buffer-pool-size=32M',
          '--innodb-flush-log-at-trx-commit=0',
          '--innodb-doublewrite=0',
          '--innodb-use-native-aio=0',
          '--innodb-log-file-size=8M',
          `--general-log-file=${statementLogPath}`,
          ...tlsArgs,
        ],
        account,
        logPath,
        instanceDir: dir,
        stopSignal: 'SIGTERM',
      }),
  });
  const root: MariaDbCredentials = { username: 'root', password: randomPassword() };
  try {
    await requirePasswords(socketPath, root.password, Boolean(options.logStatements));
  } catch (error) {
    await server.stop();
    throw error;
  }
  return makeInstance({ dir, port, root, logPath, statementLogPath, server, tls: Boolean(options.tls) });
}

/**
 * Over the Unix socket (root has no password yet): drop every account except root and the
 * internal `mariadb.sys`, drop root accounts tied to the machine's host name, and give the root
 * accounts for localhost, 127.0.0.1 and ::1 the new password. Then switch the general query log
 * on if asked.
 */
async function requirePasswords(
  socketPath: string,
  rootPassword: string,
  logStatements: boolean,
): Promise<void> {
  const connection = await mysql.createConnection({ socketPath, user: 'root' });
  try {
    const [accounts] = await connection.query<mysql.RowDataPacket[]>('SELECT User, Host FROM mysql.user');
    const keptRootHosts = new Set(['localhost', '127.0.0.1', '::1']);
    for (const { User: user, Host: host } of accounts) {
      if (user === 'mariadb.sys') continue;
      if (user === 'root' && keptRootHosts.has(host)) continue;
      await connection.query('DROP USER ?@?', [user, host]);
    }
    for (const host of keptRootHosts) {
      await connection.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', ['root', host, rootPassword]);
      await connection.query('ALTER USER ?@? IDENTIFIED BY ?', ['root', host, rootPassword]);
      await connection.query('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', ['root', host]);
    }
    // Only now, so the statements that set the root password are not in the log.
    if (logStatements) await connection.query('SET GLOBAL general_log = 1');
  } finally {
    await connection.end();
  }
}

async function makeInstance(parts: {
  dir: string;
  port: number;
  root: MariaDbCredentials;
  logPath: string;
  statementLogPath: string;
  server: ServerProcess;
  tls: boolean;
}): Promise<MariaDbInstance> {
  const { dir, port, root, logPath, statementLogPath, server } = parts;
  const openConnections = new Set<mysql.Connection>();
  let stopped: Promise<void> | undefined;

  const open = async (
    user: MariaDbCredentials,
    host: string,
    database: string | undefined,
    extras: MariaDbConnectionExtras,
  ): Promise<mysql.Connection> => {
    const connection = await mysql.createConnection({
      ...extras,
      host,
      port,
      user: user.username,
      password: user.password,
      ...(database === undefined ? {} : { database }),
    });
    // Without a listener, a server going away would crash the test worker with an unhandled
    // 'error' event; pending and later queries still reject.
    connection.on('error', () => undefined);
    // Closed by stop() if still open; destroying an already-ended connection is harmless.
    openConnections.add(connection);
    return connection;
  };

  const query = async <Row>(sql: string, params: readonly unknown[] = []): Promise<Row[]> => {
    const connection = await open(root, '127.0.0.1', undefined, {});
    try {
      const [rows] = await connection.query(sql, [...params]);
      return rows as Row[];
    } finally {
      await connection.end();
      openConnections.delete(connection);
    }
  };

  const [versionRow] = await query<{ version: string }>('SELECT VERSION() AS version');

  return {
    host: '127.0.0.1',
    port,
    version: versionRow?.version ?? 'unknown',
    root,
    tls: parts.tls,
    logPath,
    connect: (user = root, database, extras = {}) => open(user, '127.0.0.1', database, extras),
    query,
    async canLogin(username, password, host = '127.0.0.1', extras = {}) {
      let connection: mysql.Connection;
      try {
        connection = await open({ username, password }, host, undefined, extras);
      } catch (error) {
        const errno = (error as { errno?: unknown }).errno;
        if (typeof errno === 'number' && ACCESS_DENIED_ERRORS.has(errno)) return false;
        throw error;
      }
      await connection.end();
      openConnections.delete(connection);
      return true;
    },
    readLog: () => readFile(logPath, 'utf8'),
    readStatementLog: () => readFile(statementLogPath, 'utf8').catch(() => ''),
    stop() {
      stopped ??= (async () => {
        for (const connection of openConnections) connection.destroy();
        openConnections.clear();
        await server.stop();
        await removeInstanceDir(dir);
      })();
      return stopped;
    },
  };
}
