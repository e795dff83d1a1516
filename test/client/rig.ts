/**
 * What the client's tests share: the local Secrets Manager endpoint reached through the real SDK,
 * secrets with unique names, version and label moves as the service makes them, and passwords
 * registered with the leak scan.
 */
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { RotatingPoolStats } from 'secrets-rotator/client';
import { type LocalSecretsManager, startLocalSecretsManager } from 'secrets-rotator/testing';
import { expect } from 'vitest';
import { trackSecrets } from '../support/leak-scan.ts';

let counter = 0;

/** A fresh random password, registered with the leak scan. */
export function newPassword(label = 'pw'): string {
  counter += 1;
  const password = `${label}-${counter}-${Math.random().toString(36).slice(2)}-Zz9`;
  trackSecrets(password);
  return password;
}

/** A local endpoint and helpers to play the service's side of a rotation by hand. */
export class SecretsRig {
  readonly sm: LocalSecretsManager;
  readonly sdk: SecretsManagerClient;

  private constructor(sm: LocalSecretsManager) {
    this.sm = sm;
    this.sdk = sm.client({ maxAttempts: 1 });
  }

  static async start(): Promise<SecretsRig> {
    return new SecretsRig(await startLocalSecretsManager());
  }

  close(): Promise<void> {
    return this.sm.close();
  }

  /** Creates a secret holding `value` (JSON) and returns its name and first version id. */
  async create(prefix: string, value: Record<string, unknown>): Promise<{ name: string; versionId: string }> {
    counter += 1;
    const name = `client/${prefix}-${counter}`;
    const text = JSON.stringify(value);
    trackSecrets(text);
    const answer = await this.sdk.send(new CreateSecretCommand({ Name: name, SecretString: text }));
    return { name, versionId: answer.VersionId! };
  }

  /** Stores a version under `stages` (default AWSCURRENT, which also moves AWSPREVIOUS). */
  async put(name: string, value: Record<string, unknown>, stages?: string[]): Promise<string> {
    const text = JSON.stringify(value);
    trackSecrets(text);
    const answer = await this.sdk.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: text, VersionStages: stages }),
    );
    return answer.VersionId!;
  }

  /** Moves AWSCURRENT as finishSecret does. */
  async promote(name: string, versionId: string, from: string): Promise<void> {
    await this.sdk.send(
      new UpdateSecretVersionStageCommand({
        SecretId: name,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: versionId,
        RemoveFromVersionId: from,
      }),
    );
  }

  /** GetSecretValue calls so far for a secret and label. */
  reads(name: string, stage = 'AWSCURRENT'): number {
    return this.sm
      .callsTo('GetSecretValue')
      .filter((call) => call.input.SecretId === name && (call.input.VersionStage ?? 'AWSCURRENT') === stage)
      .length;
  }
}

/** Collects what a pool warns about, and prints it so the leak scan sees it too. */
export function recordingLogger(): { warn: (message: string) => void; lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    warn: (message: string) => {
      lines.push(message);
      console.warn(message);
    },
  };
}

/**
 * 8 operations started together on a fresh pool: under prefer each connection decides TLS for
 * itself and all succeed; under verify-full all are refused, naming `factory`.
 */
async function decidedPerConnection<P extends { stats(): RotatingPoolStats }>(
  factory: 'createPgPool' | 'createMysqlPool',
  poolWith: (mode: 'prefer' | 'verify-full') => P,
  operation: (pool: P) => Promise<unknown>,
): Promise<void> {
  const together = (pool: P) => Promise.allSettled(Array.from({ length: 8 }, () => operation(pool)));
  const preferring = poolWith('prefer');
  const preferred = await together(preferring);
  expect(preferred.map((result) => result.status)).toEqual(Array(8).fill('fulfilled'));
  expect(preferring.stats().plaintextFallbacks).toBeGreaterThanOrEqual(1);
  expect(preferring.stats().failedOperations).toBe(0);

  const strict = poolWith('verify-full');
  const refused = await together(strict);
  expect(refused.map((result) => result.status)).toEqual(Array(8).fill('rejected'));
  for (const result of refused) {
    expect(String((result as PromiseRejectedResult).reason)).toContain(
      `offers no TLS, and ${factory} tls.mode is verify-full`,
    );
  }
  expect(strict.stats().plaintextFallbacks).toBe(0);
}

/** A pool whose secret demands TLS (`"ssl": true`) refuses a server without it, never falling back. */
async function refusedWithoutTls(
  pool: { query(sql: string): Promise<unknown>; stats(): RotatingPoolStats },
  logger: { lines: string[] },
  factory: 'createPgPool' | 'createMysqlPool',
): Promise<void> {
  await expect(pool.query('SELECT 1')).rejects.toThrow(
    `offers no TLS, and ${factory} tls.mode is verify-full`,
  );
  expect(pool.stats().plaintextFallbacks).toBe(0);
  expect(logger.lines).toEqual([]);
}

/** TLS checks the pg and mysql2 pool tests share. */
export const tlsChecks = { decidedPerConnection, refusedWithoutTls };
