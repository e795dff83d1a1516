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
import { type LocalSecretsManager, startLocalSecretsManager } from 'secrets-rotator/testing';
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
