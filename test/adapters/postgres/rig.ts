/**
 * What the PostgreSQL adapter's integration tests share: a private PostgreSQL server next to the
 * local Secrets Manager endpoint of {@link RotationRig}.
 */
import type pg from 'pg';
import { scramSha256Verifier } from '../../../src/adapters/postgres/scram.ts';
import { quoteIdentifier } from '../../../src/adapters/postgres/sql.ts';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../../src/testing/index.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { type PostgresInstance, type StartPostgresOptions, startPostgres } from '../../support/postgres.ts';
import { RotationRig, type StoredSecret } from '../../support/rotation-rig.ts';

export {
  type DirectContext,
  directContext,
  rejection,
  type StoredSecret,
  setupPassword,
} from '../../support/rotation-rig.ts';

/** The two PostgreSQL versions every integration test runs against. */
export const VERSIONS = [18, 15] as const;

/**
 * One PostgreSQL server and one local Secrets Manager endpoint, shared by the tests of a file.
 */
export class Rig extends RotationRig {
  readonly db: PostgresInstance;

  private constructor(db: PostgresInstance, sm: LocalSecretsManager) {
    super(sm);
    this.db = db;
  }

  static async start(options: StartPostgresOptions): Promise<Rig> {
    const [db, sm] = await Promise.all([startPostgres(options), startLocalSecretsManager()]);
    trackSecrets(db.superuser.password);
    const rig = new Rig(db, sm);
    rig.masterArn = await rig.createSecret(`master-${db.version}`, rig.masterFor(db.superuser));
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

  /** Creates a login role whose password is set from a verifier, so the log never holds it. */
  async createRole(name: string, password: string, extra = ''): Promise<void> {
    const verifier = scramSha256Verifier(password);
    await this.db.query(
      `CREATE ROLE ${quoteIdentifier(name)} LOGIN PASSWORD '${verifier}' ${extra}`.trimEnd(),
    );
  }

  /** Sets a role's password behind the rotator's back. */
  async setRolePassword(name: string, password: string): Promise<void> {
    await this.db.query(`ALTER ROLE ${quoteIdentifier(name)} PASSWORD '${scramSha256Verifier(password)}'`);
  }

  /** The secret value of docs/protocol.md#the-database-secret for a user of this server. */
  secretFor(username: string, password: string, extra: Record<string, unknown> = {}): StoredSecret {
    return {
      engine: 'postgres',
      host: this.db.host,
      port: this.db.port,
      username,
      password,
      dbname: 'postgres',
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
    work: (client: pg.Client) => Promise<T>,
  ): Promise<T> {
    const client = await this.db.connect({ username: value.username, password: value.password });
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }
}
