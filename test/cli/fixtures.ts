/**
 * Shared set-up of the CLI tests: a local endpoint on a test clock, with a rotation function that
 * works and one that fails at setSecret, and helpers to put secrets in each state a verdict names.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll } from 'vitest';
import { randomSecret } from '../../src/adapters/random-secret/index.ts';
import { cliLogger, cliMetrics } from '../../src/cli/runtime.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import type { RotationHandler } from '../../src/core/event.ts';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../src/testing/server.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { TestClock } from './run.ts';

export const GOOD_ROTATOR = 'arn:aws:lambda:us-east-1:123456789012:function:good-rotator';
export const BROKEN_ROTATOR = 'arn:aws:lambda:us-east-1:123456789012:function:broken-rotator';
/** A rotation function still busy after the CLI's --timeout (it fails 2 s into setSecret). */
export const SLOW_ROTATOR = 'arn:aws:lambda:us-east-1:123456789012:function:slow-rotator';

export interface CliFixture {
  readonly local: LocalSecretsManager;
  readonly client: SecretsManagerClient;
  readonly clock: TestClock;
  /** While true, the good rotator fails at setSecret too (a rotation function broken, then fixed). */
  goodRotatorBroken: boolean;
  close(): Promise<void>;
}

export function quietHandler(client: SecretsManagerClient): RotationHandler {
  return createRotationHandler(randomSecret(), {
    client,
    env: { PASSWORD_GENERATOR: 'local' },
    logger: cliLogger(() => {}, false),
    metrics: cliMetrics(),
  });
}

export async function startCliFixture(): Promise<CliFixture> {
  const clock = new TestClock();
  const local = await startLocalSecretsManager({ clock: clock.now });
  const client = local.client();
  const works = quietHandler(local.client());
  const fixture: CliFixture = {
    local,
    client,
    clock,
    goodRotatorBroken: false,
    close: () => local.close(),
  };
  local.registerRotationFunction(GOOD_ROTATOR, async (event, context) => {
    if (fixture.goodRotatorBroken && event.Step === 'setSecret') {
      throw new Error('setSecret failed: the target refused the change (simulated)');
    }
    return works(event, context);
  });
  local.registerRotationFunction(SLOW_ROTATOR, async (event, context) => {
    if (event.Step === 'setSecret') {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      throw new Error('setSecret failed after a long wait (simulated)');
    }
    return works(event, context);
  });
  local.registerRotationFunction(BROKEN_ROTATOR, async (event, context) => {
    if (event.Step === 'setSecret')
      throw new Error('setSecret failed: the target refused the change (simulated)');
    return works(event, context);
  });
  return fixture;
}

/** A CLI fixture started by {@link useCliFixture}, with the `--endpoint-url` arguments for it. */
export interface SharedCliFixture extends CliFixture {
  readonly endpointArgs: string[];
}

/**
 * Registers beforeAll/afterAll hooks that start one CLI fixture for the file and close it; the
 * returned object stands for it (read its fields inside tests, after beforeAll has run).
 *
 * @example
 * ```ts
 * const fixture = useCliFixture();
 * it('…', async () => { await cli(['status', 'x', ...fixture.endpointArgs]); });
 * ```
 */
export function useCliFixture(): SharedCliFixture {
  let started: CliFixture | undefined;
  beforeAll(async () => {
    started = await startCliFixture();
  });
  afterAll(async () => {
    await started?.close();
  });
  const current = (): CliFixture => {
    if (!started) throw new Error('the CLI fixture is not started: read it inside a test');
    return started;
  };
  return {
    get local() {
      return current().local;
    },
    get client() {
      return current().client;
    },
    get clock() {
      return current().clock;
    },
    get goodRotatorBroken() {
      return current().goodRotatorBroken;
    },
    set goodRotatorBroken(broken: boolean) {
      current().goodRotatorBroken = broken;
    },
    close: () => current().close(),
    get endpointArgs() {
      return ['--endpoint-url', current().local.endpoint];
    },
  };
}

/** A random initial value, registered with the leak scan. */
export function secretValue(): string {
  const value = `initial-${randomBytes(12).toString('hex')}`;
  trackSecrets(value);
  return value;
}

/** A database password for a test, registered with the leak scan. */
export function databasePassword(): string {
  const value = `Pw-${randomBytes(12).toString('base64url')}`;
  trackSecrets(value);
  return value;
}

/** Stores `value` as JSON under `name` (the JSON registered with the leak scan); returns the ARN. */
export async function putJsonSecret(
  client: SecretsManagerClient,
  name: string,
  value: Record<string, unknown>,
): Promise<string> {
  const text = JSON.stringify(value);
  trackSecrets(text);
  const answer = await client.send(new CreateSecretCommand({ Name: name, SecretString: text }));
  return answer.ARN!;
}

export async function createSecret(client: SecretsManagerClient, name: string): Promise<string> {
  const answer = await client.send(new CreateSecretCommand({ Name: name, SecretString: secretValue() }));
  return answer.ARN!;
}

/** Configures rotation every `days` days and rotates once (or only tests, with rotateImmediately false). */
export async function configureRotation(
  fixture: CliFixture,
  name: string,
  options: { days?: number; lambda?: string; rotateImmediately?: boolean } = {},
): Promise<void> {
  await fixture.client.send(
    new RotateSecretCommand({
      SecretId: name,
      RotationLambdaARN: options.lambda ?? GOOD_ROTATOR,
      RotationRules: { AutomaticallyAfterDays: options.days ?? 30 },
      RotateImmediately: options.rotateImmediately ?? true,
    }),
  );
  await fixture.local.idle();
  await trackCurrent(fixture.client, name);
}

/** Registers the secret's current and pending values with the leak scan. */
export async function trackCurrent(client: SecretsManagerClient, name: string): Promise<string> {
  const current = await client.send(new GetSecretValueCommand({ SecretId: name }));
  trackSecrets(current.SecretString);
  return current.SecretString!;
}
