/**
 * Shared set-up for the HTTP API-key tests: a key API on loopback, a local Secrets Manager endpoint,
 * a secret holding the API's seed key, and the real engine around the adapter.
 */
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterEach } from 'vitest';
import type { HttpApiKeyConfig } from '../../../src/adapters/http-api-key/config.ts';
import { httpApiKey } from '../../../src/adapters/http-api-key/index.ts';
import { createRotationHandler } from '../../../src/core/engine.ts';
import type { RotationHandler } from '../../../src/core/event.ts';
import type { LocalSecretsManager } from '../../../src/testing/index.ts';
import { type KeyApi, type KeyApiOptions, startKeyApi } from '../../support/key-api.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { useLocalSecretsManager } from '../../support/local-secrets-manager.ts';

/** Fast, test-sized timing: no assertion depends on it. */
export const FAST_HTTP = { timeoutMs: 2_000, attempts: 4, initialDelayMs: 5, maxDelayMs: 40 } as const;
export const FAST_PROPAGATION = { maxWaitMs: 20_000, initialDelayMs: 5, maxDelayMs: 40 } as const;

/** Minting with an idempotency key, revoking at finish, bearer auth. */
export function mintConfig(url: string): HttpApiKeyConfig {
  return {
    baseUrl: url,
    auth: { type: 'bearer' },
    mint: {
      request: { method: 'POST', path: '/keys', body: { label: 'rotation {{versionId}}' } },
      keyPointer: '/key',
      keyIdPointer: '/id',
      idempotencyHeader: 'Idempotency-Key',
    },
    test: {
      request: { method: 'GET', path: '/whoami' },
      successStatus: [200],
      propagation: FAST_PROPAGATION,
    },
    revoke: { when: 'finish', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
    http: FAST_HTTP,
  };
}

/** Minting without idempotency: the orphan check lists keys and looks for the version id in labels. */
export function orphanCheckedConfig(url: string, onOrphan: 'fail' | 'revoke'): HttpApiKeyConfig {
  const base = mintConfig(url);
  return {
    ...base,
    mint: {
      request: { method: 'POST', path: '/keys', body: { label: 'rotation {{versionId}}' } },
      keyPointer: '/key',
      keyIdPointer: '/id',
      orphanCheck: {
        request: { method: 'GET', path: '/keys' },
        itemsPointer: '/keys',
        labelPointer: '/label',
        idPointer: '/id',
      },
      onOrphan,
    },
  };
}

/** Keys generated locally and registered with PUT, sent in a custom header. */
export function generateConfig(url: string): HttpApiKeyConfig {
  return {
    baseUrl: url,
    auth: { type: 'header', name: 'X-Api-Key' },
    generate: {
      length: 40,
      prefix: 'gk_',
      register: {
        request: {
          method: 'PUT',
          path: '/keys/{{newKeyId}}',
          body: { key: '{{newKey}}', label: 'rotation {{versionId}}' },
        },
      },
    },
    test: { request: { method: 'GET', path: '/whoami' }, propagation: FAST_PROPAGATION },
    revoke: { when: 'finish', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
    http: FAST_HTTP,
  };
}

let counter = 0;

/** One scenario: its key API, its secret, its handler. */
export interface Scenario {
  readonly api: KeyApi;
  readonly client: SecretsManagerClient;
  readonly secretId: string;
  readonly handler: RotationHandler;
  /** The AWSCURRENT value, parsed. */
  current(): Promise<Record<string, unknown>>;
  /** Registers every key the API ever made with the leak scan. */
  trackKeys(): void;
  close(): Promise<void>;
}

/**
 * Starts a key API and creates a secret holding its seed key, with the configuration in the
 * secret's `"rotation"` block (or in the function's environment with `configIn: 'env'`).
 */
export async function scenario(
  sm: LocalSecretsManager,
  options: {
    api?: KeyApiOptions;
    config: (url: string) => HttpApiKeyConfig;
    configIn?: 'secret' | 'env';
    extraFields?: Record<string, unknown>;
  },
): Promise<Scenario> {
  const api = await startKeyApi(options.api);
  const client = sm.client();
  const config = options.config(api.url);
  const inSecret = (options.configIn ?? 'secret') === 'secret';
  const value = {
    apiKey: api.seed.key,
    keyId: api.seed.id,
    owner: 'payments-team',
    ...(inSecret ? { rotation: config } : {}),
    ...options.extraFields,
  };
  const serialized = JSON.stringify(value);
  trackSecrets(api.seed.key, serialized);
  const secretId = `http-api-key-${++counter}-${Date.now()}`;
  await client.send(new CreateSecretCommand({ Name: secretId, SecretString: serialized }));
  // The key API listens on loopback, which a key reaches only when listed exactly.
  const env = {
    HTTP_API_KEY_ALLOWED_HOSTS: '127.0.0.1',
    ...(inSecret ? {} : { HTTP_API_KEY_CONFIG: JSON.stringify(config) }),
  };
  const handler = createRotationHandler(httpApiKey(), { client, env });
  const trackKeys = () => trackSecrets(...api.keys().map((record) => record.key));
  return {
    api,
    client,
    secretId,
    handler,
    trackKeys,
    current: async () => {
      const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      trackSecrets(answer.SecretString);
      return JSON.parse(answer.SecretString ?? '{}') as Record<string, unknown>;
    },
    close: async () => {
      trackKeys();
      await api.close();
    },
  };
}

/**
 * Registers the hooks of a test file: one local Secrets Manager for the file; after each test its
 * faults cleared and the scenarios it started closed.
 */
export function useScenarios(): {
  readonly sm: LocalSecretsManager;
  start(options: Parameters<typeof scenario>[1]): Promise<Scenario>;
} {
  const local = useLocalSecretsManager();
  const open: Scenario[] = [];
  afterEach(async () => {
    local.sm.clearFaults();
    for (const item of open.splice(0)) await item.close();
  });
  return {
    get sm() {
      return local.sm;
    },
    async start(options) {
      const item = await scenario(local.sm, options);
      open.push(item);
      return item;
    },
  };
}
