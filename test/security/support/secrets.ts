/**
 * Set-up shared by the security tests: a local Secrets Manager (and, where wanted, the built zips),
 * passwords registered with the leak scan, and secrets created under unique names.
 */
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll } from 'vitest';
import {
  type LocalSecretsManager,
  type RotationResult,
  rotateSecret,
  startLocalSecretsManager,
} from '../../../src/testing/index.ts';
import type { DeployedLambda } from '../../packaging/support/deployed-lambda.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { buildDeployedZips, type DeployedZips } from './deployed.ts';

/** A fresh password, registered so the leak scan fails the test if it reaches captured output. */
export function trackedPassword(label: string): string {
  const value = `${label}-${crypto.randomUUID()}`;
  trackSecrets(value);
  return value;
}

/** Creates a secret: `value` stored as JSON under `name-N` (N counts up), with `tags`; returns its ARN. */
export type CreateSecret = (
  name: string,
  value: object,
  tags?: Readonly<Record<string, string>>,
) => Promise<string>;

/** Returns a `CreateSecret` that sends through `client()` (read when called, so after beforeAll). */
export function secretCreator(client: () => SecretsManagerClient): CreateSecret {
  let counter = 0;
  return async (name, value, tags = {}) => {
    counter += 1;
    const created = await client().send(
      new CreateSecretCommand({
        Name: `${name}-${counter}`,
        SecretString: JSON.stringify(value),
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    return created.ARN!;
  };
}

export interface DeployedRig {
  readonly sm: LocalSecretsManager;
  readonly client: SecretsManagerClient;
  /** The built zips of the handlers passed to `useDeployedRig`. */
  readonly zips: DeployedZips;
  readonly createSecret: CreateSecret;
}

/**
 * Registers beforeAll/afterAll hooks that start a local Secrets Manager and build `handlers` as
 * deployed; the returned rig's fields are readable inside tests (after beforeAll has run).
 */
export function useDeployedRig(handlers: readonly string[]): DeployedRig {
  let sm: LocalSecretsManager | undefined;
  let client: SecretsManagerClient | undefined;
  let zips: DeployedZips | undefined;
  beforeAll(async () => {
    sm = await startLocalSecretsManager();
    client = sm.client();
    zips = await buildDeployedZips(handlers, sm);
  });
  afterAll(async () => {
    await zips?.close();
    await sm?.close();
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not started: read it inside a test`);
    return value;
  };
  return {
    get sm() {
      return started(sm, 'the local Secrets Manager');
    },
    get client() {
      return started(client, 'the Secrets Manager client');
    },
    get zips() {
      return started(zips, 'the deployed zips');
    },
    createSecret: secretCreator(() => started(client, 'the Secrets Manager client')),
  };
}

/**
 * The attack both host tests play: a master secret (`master`, user "admin") and the app's secret
 * (user "app", `currentPassword`, plaintext) naming the attacker's server `at`, rotated once
 * through `handler`'s deployed zip with `settings` (the secret allowed, nothing else implied).
 */
export async function rotateAppSecretAt(
  rig: DeployedRig,
  options: {
    readonly handler: string;
    readonly engine: string;
    readonly at: { readonly host: string; readonly port: number };
    readonly master: Readonly<Record<string, unknown>>;
    readonly currentPassword: string;
    readonly settings: Readonly<Record<string, string>>;
  },
): Promise<{ readonly result: RotationResult; readonly deployed: DeployedLambda }> {
  const masterarn = await rig.createSecret(`${options.handler}-master`, {
    username: 'admin',
    ...options.master,
  });
  const secretId = await rig.createSecret(`${options.handler}-app`, {
    engine: options.engine,
    host: options.at.host,
    port: options.at.port,
    username: 'app',
    password: options.currentPassword,
    ssl: false,
    masterarn,
  });
  const deployed = await rig.zips.start(options.handler, {
    ALLOWED_SECRET_IDS: secretId,
    ...options.settings,
  });
  const result = await rotateSecret({ client: rig.client, secretId, handler: deployed.handler });
  return { result, deployed };
}
