import type { Logger } from '@aws-lambda-powertools/logger';
import type { Env } from './config.ts';
import { ProtocolStateError, SecretShapeError } from './errors.ts';
import { redactJsonSecret, redactor } from './observability.ts';
import type { SecretsManagerGateway } from './secrets-manager.ts';
import { AWSCURRENT } from './stages.ts';
import type { RotationLogger, RotationStep, StepContext } from './target.ts';

/** Adapts a Powertools Logger to the {@link RotationLogger} adapters receive. */
function toRotationLogger(logger: Logger): RotationLogger {
  const level =
    (method: 'debug' | 'info' | 'warn' | 'error') => (message: string, extra?: Record<string, unknown>) =>
      extra ? logger[method](message, extra) : logger[method](message);
  return { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
}

interface StepContextOptions {
  /** Reads other secrets (the master credentials) with the engine's retries. */
  readonly secretsManager: SecretsManagerGateway;
  readonly secretArn: string;
  readonly versionId: string;
  readonly step: RotationStep;
  readonly env: Env;
  readonly logger: Logger;
  readonly count: (name: string, value: number) => void;
  /** Milliseconds left in the invocation. Default: no deadline. */
  readonly remainingTimeMs?: () => number;
}

/** Built per step by the engine, and alike by the CLI, so secrets read through it are redacted everywhere. */
export function createStepContext(options: StepContextOptions): StepContext {
  return {
    secretArn: options.secretArn,
    versionId: options.versionId,
    step: options.step,
    logger: toRotationLogger(options.logger),
    metrics: { count: (name, value = 1) => options.count(name, value) },
    env: options.env,
    redact: (...values) => redactor.add(...values),
    readSecret: async (secretId) => {
      const version = await options.secretsManager.readStage(secretId, AWSCURRENT);
      if (!version) throw new ProtocolStateError(`Secret ${secretId} has no AWSCURRENT value`);
      if (typeof version.value !== 'string') {
        throw new SecretShapeError(
          '(value)',
          `of secret ${secretId} is binary (SecretBinary)`,
          'store it as a JSON string',
        );
      }
      redactJsonSecret(redactor, version.value);
      return version.value;
    },
    readSecretTags: async (secretId) => {
      const description = await options.secretsManager.describe(secretId);
      return new Map((description.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
    },
    remainingTimeMs: options.remainingTimeMs ?? (() => Number.POSITIVE_INFINITY),
  };
}
