/**
 * What the PostgreSQL adapter's integration tests share: a private PostgreSQL server, the local
 * Secrets Manager endpoint, secrets made through the real SDK client, rotations run by the real
 * engine and driver, and a step context for calling target methods directly.
 */
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import { scramSha256Verifier } from '../../../src/adapters/postgres/scram.ts';
import { quoteIdentifier } from '../../../src/adapters/postgres/sql.ts';
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
import { type PostgresInstance, type StartPostgresOptions, startPostgres } from '../../support/postgres.ts';

/** The two PostgreSQL versions every integration test runs against. */
export const VERSIONS = [18, 15] as const;

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

/**
 * One PostgreSQL server and one local Secrets Manager endpoint, shared by the tests of a file.
 */
export class Rig {
  readonly db: PostgresInstance;
  readonly sm: LocalSecretsManager;
  readonly client: SecretsManagerClient;
  masterArn = '';

  private constructor(db: PostgresInstance, sm: LocalSecretsManager) {
    this.db = db;
    this.sm = sm;
    this.client = sm.client({ maxAttempts: 1 });
  }

  static async start(options: StartPostgresOptions): Promise<Rig> {
    const [db, sm] = await Promise.all([startPostgres(options), startLocalSecretsManager()]);
    trackSecrets(db.superuser.password);
    const rig = new Rig(db, sm);
    rig.masterArn = await rig.createSecret(`master-${db.version}`, {
      username: db.superuser.username,
      password: db.superuser.password,
    });
    return rig;
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

  /** The secret value of SPEC 3 for a user of this server. */
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

/** The message of what a promise rejected with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}
