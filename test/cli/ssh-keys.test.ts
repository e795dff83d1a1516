/**
 * `secrets-rotator rotate --handler ssh-keys`: the built-in handler rotates a key pair on a private
 * sshd through the local endpoint, host key pinned by the environment, for a binary secret too.
 */
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pemBody } from '../../src/adapters/ssh-keys/keys.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { type SshdInstance, startSshd } from '../support/sshd.ts';
import { type CliFixture, startCliFixture } from './fixtures.ts';
import { cli } from './run.ts';

let fixture: CliFixture;
let sshd: SshdInstance;

beforeAll(async () => {
  [fixture, sshd] = await Promise.all([startCliFixture(), startSshd()]);
});
afterAll(async () => {
  await Promise.allSettled([sshd?.stop(), fixture?.close()]);
});

async function installedKey(): Promise<string> {
  const pair = await sshd.keyPair();
  trackSecrets(pair.privateKey, pemBody(pair.privateKey));
  await sshd.setAuthorizedKeys([...(await sshd.authorizedKeys()), pair.publicKey]);
  return pair.privateKey;
}

const rotate = (name: string) =>
  cli(['rotate', name, '--handler', 'ssh-keys', '--endpoint-url', fixture.local.endpoint], {
    now: fixture.clock.now,
    env: { SSH_HOST_KEYS: `${sshd.host}:${sshd.port} ${sshd.hostKeyFingerprint}` },
  });

async function storedKey(name: string): Promise<string> {
  const answer = await fixture.client.send(new GetSecretValueCommand({ SecretId: name }));
  const key = answer.SecretString
    ? (JSON.parse(answer.SecretString) as { privateKey: string }).privateKey
    : Buffer.from(answer.SecretBinary!).toString('utf8');
  trackSecrets(answer.SecretString, key, pemBody(key));
  return key;
}

it('rotates a JSON secret: the new key logs in, the old one is refused', async () => {
  const initial = await installedKey();
  const value = JSON.stringify({
    privateKey: initial,
    username: sshd.user,
    hosts: [`${sshd.host}:${sshd.port}`],
    authorizedKeysFile: sshd.authorizedKeysFile,
  });
  trackSecrets(value);
  await fixture.client.send(new CreateSecretCommand({ Name: 'ssh/cli', SecretString: value }));
  const result = await rotate('ssh/cli');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const key = await storedKey('ssh/cli');
  expect(await sshd.canLogin(key)).toBe(true);
  expect(await sshd.canLogin(initial)).toBe(false);
});

it('rotates a binary secret tagged with its account and hosts; the value stays a key file', async () => {
  const initial = await installedKey();
  await fixture.client.send(
    new CreateSecretCommand({
      Name: 'ssh/cli-binary',
      SecretBinary: Buffer.from(initial),
      Tags: [
        { Key: 'ssh:username', Value: sshd.user },
        { Key: 'ssh:hosts', Value: `${sshd.host}:${sshd.port}` },
        { Key: 'ssh:authorized-keys-file', Value: sshd.authorizedKeysFile },
      ],
    }),
  );
  const result = await rotate('ssh/cli-binary');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const key = await storedKey('ssh/cli-binary');
  expect(key).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
  expect(await sshd.canLogin(key)).toBe(true);
  expect(await sshd.canLogin(initial)).toBe(false);
});
