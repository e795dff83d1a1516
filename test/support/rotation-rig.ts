/**
 * What the database adapters' integration tests share, whatever the database: the local Secrets
 * Manager endpoint reached through the real SDK client, secrets made and read with every password
 * registered with the leak scan, rotations run by the real engine and driver, and a step context
 * for calling a target's methods directly.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { Env } from '../../src/core/config.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import type { RotationHandler } from '../../src/core/event.ts';
import { Redactor } from '../../src/core/observability.ts';
import type { RotationTarget, StepContext } from '../../src/core/target.ts';
import { type LocalSecretsManager, type RotationResult, rotateSecret } from '../../src/testing/index.ts';
import { trackSecrets } from './leak-scan.ts';

/**
 * The TLS modes for the private test databases, which offer no TLS unless a test starts them with
 * certificates: without them every connection would stop at the default, verify-full. Tests that
 * prove TLS set their own mode over these.
 */
export const LOCAL_PLAINTEXT_DATABASES = { PG_TLS_MODE: 'prefer', MYSQL_TLS_MODE: 'prefer' } as const;

/** A secret value as stored (docs/protocol.md#the-database-secret). */
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
 * One local Secrets Manager endpoint and the rotations run against it; a database rig extends it
 * with its server.
 */
export class RotationRig {
  readonly sm: LocalSecretsManager;
  readonly client: SecretsManagerClient;
  /** ARN of the master secret of the rig's database, once the rig has made it. */
  masterArn = '';

  protected constructor(sm: LocalSecretsManager) {
    this.sm = sm;
    this.client = sm.client({ maxAttempts: 1 });
  }

  /** Creates a secret with a unique name; its text and password are registered with the leak scan. */
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
    return createRotationHandler(target, {
      client: this.client,
      env: { ...LOCAL_PLAINTEXT_DATABASES, ...env },
    });
  }

  async rotate(arn: string, handler: RotationHandler, resume = false): Promise<RotationResult> {
    return rotateSecret({ client: this.client, secretId: arn, handler, resume });
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
    env: { ...LOCAL_PLAINTEXT_DATABASES, ...env },
    redact: (...values) => redactor.add(...values),
    async readSecret(secretId) {
      if (!client) throw new Error('directContext: no Secrets Manager client given');
      const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      redactor.add(answer.SecretString);
      return answer.SecretString!;
    },
    async readSecretTags(secretId) {
      if (!client) throw new Error('directContext: no Secrets Manager client given');
      const answer = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
      return new Map((answer.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
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
