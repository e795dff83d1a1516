/**
 * The local Secrets Manager most test files start once: beforeAll starts it, afterAll closes it.
 */
import type { SecretsManagerClient, SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll } from 'vitest';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../src/testing/index.ts';

export interface LocalSecretsManagerRig {
  /** The running endpoint (faults, recorded calls, pending versions). */
  readonly sm: LocalSecretsManager;
  /** A real AWS SDK client pointed at it. */
  readonly client: SecretsManagerClient;
}

/**
 * Registers beforeAll/afterAll hooks for one local Secrets Manager and a client made with
 * `clientConfig`; read the rig's fields inside tests (after beforeAll has run).
 *
 * @example
 * ```ts
 * const local = useLocalSecretsManager({ maxAttempts: 1 });
 * it('…', async () => { await local.client.send(command); });
 * ```
 */
export function useLocalSecretsManager(
  clientConfig?: Partial<SecretsManagerClientConfig>,
): LocalSecretsManagerRig {
  let sm: LocalSecretsManager | undefined;
  let client: SecretsManagerClient | undefined;
  beforeAll(async () => {
    sm = await startLocalSecretsManager();
    client = sm.client(clientConfig);
  });
  afterAll(async () => {
    await sm?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error('the local Secrets Manager is not started: read it inside a test');
    return value;
  };
  return {
    get sm() {
      return started(sm);
    },
    get client() {
      return started(client);
    },
  };
}
