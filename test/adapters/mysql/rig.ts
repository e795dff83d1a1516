/**
 * What the MySQL adapter's integration tests share: a private MariaDB server started from the
 * system's binaries, next to the local Secrets Manager endpoint of {@link RotationRig}.
 */
import type mysql from 'mysql2/promise';
import { quoteAccount } from '../../../src/adapters/mysql/sql.ts';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../../src/testing/index.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { type MariaDbInstance, type StartMariaDbOptions, startMariaDb } from '../../support/mariadb.ts';
import { RotationRig, type StoredSecret } from '../../support/rotation-rig.ts';

export {
  type DirectContext,
  directContext,
  rejection,
  type StoredSecret,
  setupPassword,
} from '../../support/rotation-rig.ts';

/** One MariaDB server and one local Secrets Manager endpoint, shared by the tests of a file. */
export class Rig extends RotationRig {
  readonly db: MariaDbInstance;

  private constructor(db: MariaDbInstance, sm: LocalSecretsManager) {
    super(sm);
    this.db = db;
  }

  static async start(options: StartMariaDbOptions = {}): Promise<Rig> {
    const [db, sm] = await Promise.all([startMariaDb(options), startLocalSecretsManager()]);
    trackSecrets(db.root.password);
    const rig = new Rig(db, sm);
    rig.masterArn = await rig.createSecret('master', rig.masterFor(db.root));
    return rig;
  }

  /** A master secret for this server: its credentials and the server's own host and port. */
  masterFor(
    login: { username: string; password: string },
    at: { host: string; port: number } = this.db,
  ): StoredSecret {
    return { username: login.username, password: login.password, host: at.host, port: at.port };
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.db.stop(), this.sm.close()]);
  }

  /** Creates a user on `host` (default any host) with a password. */
  async createUser(name: string, password: string, host = '%'): Promise<void> {
    await this.db.query(`CREATE USER ${quoteAccount({ user: name, host })} IDENTIFIED BY ?`, [password]);
  }

  /** Sets a user's password behind the rotator's back. */
  async setPassword(name: string, password: string, host = '%'): Promise<void> {
    await this.db.query(`ALTER USER ${quoteAccount({ user: name, host })} IDENTIFIED BY ?`, [password]);
  }

  /** The lines of SHOW GRANTS for an account, without the password hash. */
  async grants(name: string, host = '%'): Promise<string[]> {
    const rows = await this.db.query<Record<string, string>>(
      `SHOW GRANTS FOR ${quoteAccount({ user: name, host })}`,
    );
    return rows.map((row) => Object.values(row)[0]!.replace(/ IDENTIFIED BY PASSWORD '[^']*'/, ''));
  }

  /** The hosts an account name exists on. */
  async hostsOf(name: string): Promise<string[]> {
    const rows = await this.db.query<{ Host: string }>(
      'SELECT Host FROM mysql.user WHERE User = ? ORDER BY Host',
      [name],
    );
    return rows.map((row) => row.Host);
  }

  /** The secret value of docs/protocol.md#the-database-secret for a user of this server. */
  secretFor(username: string, password: string, extra: Record<string, unknown> = {}): StoredSecret {
    return {
      engine: 'mariadb',
      host: this.db.host,
      port: this.db.port,
      username,
      password,
      ssl: false,
      ...extra,
    };
  }

  canLogin(value: { username: string; password: string }): Promise<boolean> {
    return this.db.canLogin(value.username, value.password);
  }

  /** Runs `work` as a user over TCP, then disconnects. */
  async as<T>(
    value: { username: string; password: string },
    work: (connection: mysql.Connection) => Promise<T>,
    database?: string,
  ): Promise<T> {
    const connection = await this.db.connect(
      { username: value.username, password: value.password },
      database,
    );
    try {
      return await work(connection);
    } finally {
      await connection.end();
    }
  }
}
