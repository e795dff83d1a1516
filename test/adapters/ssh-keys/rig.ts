/** A private sshd next to the local Secrets Manager endpoint, for the SSH key adapter's tests. */
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { pemBody } from '../../../src/adapters/ssh-keys/keys.ts';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../../src/testing/index.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { RotationRig } from '../../support/rotation-rig.ts';
import { type SshdInstance, startSshd } from '../../support/sshd.ts';

export { directContext, rejection } from '../../support/rotation-rig.ts';

export interface StoredSshSecret extends Record<string, unknown> {
  privateKey: string;
  publicKey?: string;
}

let counter = 0;

export class Rig extends RotationRig {
  readonly sshd: SshdInstance;

  private constructor(sshd: SshdInstance, sm: LocalSecretsManager) {
    super(sm);
    this.sshd = sshd;
  }

  static async start(): Promise<Rig> {
    const [sshd, sm] = await Promise.all([startSshd(), startLocalSecretsManager()]);
    return new Rig(sshd, sm);
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.sshd.stop(), this.sm.close()]);
  }

  /** A key pair from ssh-keygen, registered with the leak scan and installed in authorized_keys. */
  async installedKey(
    type: 'ed25519' | 'rsa' = 'ed25519',
  ): Promise<{ privateKey: string; publicKey: string }> {
    const pair = await this.sshd.keyPair(type);
    trackSecrets(pair.privateKey, pemBody(pair.privateKey));
    await this.sshd.setAuthorizedKeys([...(await this.sshd.authorizedKeys()), pair.publicKey]);
    return pair;
  }

  /** The JSON secret for this sshd, host key pinned in the secret. */
  secretFor(privateKey: string, extra: Record<string, unknown> = {}): StoredSshSecret {
    return {
      privateKey,
      username: this.sshd.user,
      hosts: [`${this.sshd.host}:${this.sshd.port}`],
      hostKeys: { [`${this.sshd.host}:${this.sshd.port}`]: this.sshd.hostKeyFingerprint },
      authorizedKeysFile: this.sshd.authorizedKeysFile,
      ...extra,
    };
  }

  /** Tags of a binary secret for this sshd (its host key pinned by the deployer: {@link pinEnv}). */
  tagsFor(): Array<{ Key: string; Value: string }> {
    return [
      { Key: 'ssh:username', Value: this.sshd.user },
      { Key: 'ssh:hosts', Value: `${this.sshd.host}:${this.sshd.port}` },
      { Key: 'ssh:authorized-keys-file', Value: this.sshd.authorizedKeysFile },
    ];
  }

  pinEnv(): Record<string, string> {
    return { SSH_HOST_KEYS: `${this.sshd.host}:${this.sshd.port} ${this.sshd.hostKeyFingerprint}` };
  }

  async createBinarySecret(name: string, privateKey: string, tags = this.tagsFor()): Promise<string> {
    counter += 1;
    const created = await this.client.send(
      new CreateSecretCommand({
        Name: `${name}-b${counter}`,
        SecretBinary: Buffer.from(privateKey),
        Tags: tags,
      }),
    );
    return created.ARN!;
  }

  /** The private key a stage holds, whichever form the secret has (registered with the leak scan). */
  async privateKey(arn: string, stage = 'AWSCURRENT'): Promise<string> {
    const answer = await this.client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: stage }));
    const key = answer.SecretString
      ? (JSON.parse(answer.SecretString) as StoredSshSecret).privateKey
      : Buffer.from(answer.SecretBinary!).toString('utf8');
    trackSecrets(answer.SecretString, key, pemBody(key));
    return key;
  }
}
