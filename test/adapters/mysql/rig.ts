/**
 * What the MySQL adapter's integration tests share: a private MariaDB server started from the
 * system's binaries, the local Secrets Manager endpoint, secrets made through the real SDK client,
 * rotations run by the real engine and driver, and a step context for calling target methods
 * directly.
 */
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type mysql from 'mysql2/promise';
import { quoteAccount } from '../../../src/adapters/mysql/sql.ts';
import type { Env } from '../../../src/core/config.ts';
import { createRotationHandler } from '../../../src/core/engine.ts';
import type { RotationHandler } from '../../../src/core/event.ts';
import { Redactor } from '../../../src/core/observability.ts';
import type { RotationTarget, StepContext } from '../../../src/core/target.ts';
import {
  type LocalSecretsManager,
  type RotationResult,
  rotateSecret,
  startLocalSecretsManager,
} from '../../../src/testing/index.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { type MariaDbInstance, type StartMariaDbOptions, startMariaDb } from '../../support/mariadb.ts';

/** A secret value as stored (SPEC 3). */
export type StoredSecret = Record<string, unknown> & { username: string; password: string };

let counter = 0;

/** A password for a test's initial set-up, registered with the leak scan. */
export function setupPassword(): string {
  counter += 1;
  const password = `Setup-${counter}-${Math.random().toString(36).slice(2)}-Pw`;
  trackSecrets(password);
  return password;
}

/** One MariaDB server and one local Secrets Manager endpoint, shared by the tests of a file. */
export class Rig {
  readonly db: MariaDbInstance;
  readonly sm: LocalSecretsManager;
  readonly client: SecretsManagerClient;
  masterArn = '';

  private constructor(db: MariaDbInstance, sm: LocalSecretsManager) {
    this.db = db;
    this.sm = sm;
    this.client = sm.client({ maxAttempts: 1 });
  }

  static async start(options: StartMariaDbOptions = {}): Promise<Rig> {
    const [db, sm] = await Promise.all([startMariaDb(options), startLocalSecretsManager()]);
    trackSecrets(db.root.password);
    const rig = new Rig(db, sm);
    // An RDS-managed master secret holds only these two fields.
    rig.masterArn = await rig.createSecret('master', {
      username: db.root.username,
      password: db.root.password,
    });
    return rig;
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

  /** The secret value of SPEC 3 for a user of this server. */
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

  async createSecret(name: string, value: Record<string, unknown>): Promise<string> {
    const text = JSON.stringify(value);
    trackSecrets(text, typeof value.password === 'string' ? value.password : undefined);
    counter += 1;
    const created = await this.client.send(
      new CreateSecretCommand({ Name: `${name}-${counter}`, SecretString: text }),
    );
    return created.ARN!;
  }

  /** The parsed value of a stage (default AWSCURRENT); its password is registered with the leak scan. */
  async value(arn: string, stage = 'AWSCURRENT'): Promise<StoredSecret> {
    const answer = await this.client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: stage }));
    const value = JSON.parse(answer.SecretString!) as StoredSecret;
    trackSecrets(answer.SecretString, value.password);
    return value;
  }

  handler<V>(target: RotationTarget<V>, env: Env = {}): RotationHandler {
    return createRotationHandler(target, { client: this.client, env });
  }

  async rotate(arn: string, handler: RotationHandler, resume = false): Promise<RotationResult> {
    return rotateSecret({ client: this.client, secretId: arn, handler, resume });
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

/** A step context for calling target methods directly, with what it logged and counted. */
export interface DirectContext extends StepContext {
  readonly lines: Array<{ level: string; message: string; extra?: Record<string, unknown> }>;
  readonly counted: Record<string, number>;
}

/**
 * A {@link StepContext} outside the engine: log lines are printed (so the leak scan sees them) after
 * redaction, and kept for assertions; metrics are counted.
 */
export function directContext(env: Env, client?: SecretsManagerClient): DirectContext {
  const redactor = new Redactor();
  const lines: DirectContext['lines'] = [];
  const counted: Record<string, number> = {};
  const log =
    (level: string) =>
    (message: string, extra?: Record<string, unknown>): void => {
      const line = { level, message, ...(extra ? { extra } : {}) };
      lines.push(line);
      console.log(redactor.scrub(JSON.stringify(line)));
    };
  return {
    secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:direct',
    versionId: 'direct-version',
    step: 'setSecret',
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    metrics: {
      count: (name, value = 1) => {
        counted[name] = (counted[name] ?? 0) + value;
      },
    },
    env,
    redact: (...values) => redactor.add(...values),
    async readSecret(secretId) {
      if (!client) throw new Error('directContext: no Secrets Manager client given');
      const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      redactor.add(answer.SecretString);
      return answer.SecretString!;
    },
    remainingTimeMs: () => Number.POSITIVE_INFINITY,
    lines,
    counted,
  };
}

/** What a promise rejected with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}
