import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sshKeys } from '../../../src/adapters/ssh-keys/index.ts';
import { AWSPENDING } from '../../../src/testing/index.ts';
import { Rig } from './rig.ts';

const ROTATIONS = 20;

describe('SSH keys on a private sshd', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await Rig.start();
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it(`JSON secret: ${ROTATIONS} rotations, each new key logs in, the one before is refused, one key line left`, async () => {
    const initial = await rig.installedKey();
    const other = await rig.installedKey();
    const arn = await rig.createSecret('json', rig.secretFor(initial.privateKey, { team: 'ops' }));
    const handler = rig.handler(sshKeys());
    let before = initial.privateKey;
    const seen = new Set<string>();
    for (let rotation = 1; rotation <= ROTATIONS; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const after = await rig.privateKey(arn);
      seen.add(after);
      expect(after).toContain('-----BEGIN OPENSSH PRIVATE KEY-----');
      expect(await rig.sshd.canLogin(after)).toBe(true);
      expect(await rig.sshd.canLogin(before)).toBe(false);
      before = after;
    }
    expect(seen.size).toBe(ROTATIONS);
    const lines = await rig.sshd.authorizedKeys();
    // The unrelated key is untouched; ours is the only other line.
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(other.publicKey);
    expect(lines[1]).toMatch(/^ssh-ed25519 \S+ secrets-rotator:/);
    const stored = (await rig.value(arn)) as Record<string, unknown>;
    expect(stored).toMatchObject({ team: 'ops', username: rig.sshd.user });
    expect(stored.publicKey).toBe(lines[1]);
    expect(await rig.sshd.canLogin(other.privateKey)).toBe(true);
  }, 300_000);

  it('RSA: keyType "rsa" makes 3072-bit keys in OpenSSH format, rotated from an RSA key', async () => {
    const initial = await rig.installedKey('rsa');
    const arn = await rig.createSecret('rsa', rig.secretFor(initial.privateKey, { keyType: 'rsa' }));
    const handler = rig.handler(sshKeys());
    let before = initial.privateKey;
    for (let rotation = 1; rotation <= 2; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const after = await rig.privateKey(arn);
      expect(await rig.sshd.canLogin(after)).toBe(true);
      expect(await rig.sshd.canLogin(before)).toBe(false);
      before = after;
    }
    const stored = (await rig.value(arn)) as Record<string, unknown>;
    expect(stored.publicKey).toMatch(/^ssh-rsa /);
    // 3072-bit modulus: 384 bytes, so the blob is 3 + 4+7 (type) + 4+3 (e) + 4+385 (n) = ~407 bytes.
    const blob = Buffer.from(String(stored.publicKey).split(' ')[1]!, 'base64');
    expect(blob.length).toBeGreaterThanOrEqual(400);
    expect(blob.length).toBeLessThan(420);
  }, 120_000);

  it('binary secret (the private key file as SecretBinary, hosts in its tags): stays binary, 3 rotations', async () => {
    const initial = await rig.installedKey();
    const arn = await rig.createBinarySecret('binary', initial.privateKey);
    const handler = rig.handler(sshKeys(), rig.pinEnv());
    let before = initial.privateKey;
    for (let rotation = 1; rotation <= 3; rotation += 1) {
      const result = await rig.rotate(arn, handler);
      expect(result.error).toBeUndefined();
      const answer = await rig.client.send(new GetSecretValueCommand({ SecretId: arn }));
      expect(answer.SecretString).toBeUndefined();
      const after = await rig.privateKey(arn);
      expect(after).toMatch(
        /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+-----END OPENSSH PRIVATE KEY-----\n$/,
      );
      expect(await rig.sshd.canLogin(after)).toBe(true);
      expect(await rig.sshd.canLogin(before)).toBe(false);
      before = after;
    }
  }, 60_000);

  it('binary secret without its ssh:hosts tag: createSecret fails naming the tag, nothing stored', async () => {
    const initial = await rig.installedKey();
    const tags = rig.tagsFor().filter((tag) => tag.Key !== 'ssh:hosts');
    const arn = await rig.createBinarySecret('untagged', initial.privateKey, tags);
    const result = await rig.rotate(arn, rig.handler(sshKeys(), rig.pinEnv()));
    expect(result.failedStep).toBe('createSecret');
    expect(result.error).toContain('"ssh:hosts" is not a tag of this binary secret');
    await expect(rig.value(arn, AWSPENDING)).rejects.toThrow();
  });

  it('a host key other than the pinned one: nothing is sent, the step fails naming both fingerprints', async () => {
    const initial = await rig.installedKey();
    const wrongPin = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const arn = await rig.createSecret(
      'mitm',
      rig.secretFor(initial.privateKey, { hostKeys: { [`${rig.sshd.host}:${rig.sshd.port}`]: wrongPin } }),
    );
    const keysBefore = await rig.sshd.authorizedKeys();
    const result = await rig.rotate(arn, rig.handler(sshKeys()));
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain(rig.sshd.hostKeyFingerprint);
    expect(result.error).toContain('not pinned');
    expect(await rig.sshd.authorizedKeys()).toEqual(keysBefore);
  });

  it('no pinned host key: refused before connecting, with the fix', async () => {
    const initial = await rig.installedKey();
    const { hostKeys: _, ...unpinned } = rig.secretFor(initial.privateKey);
    const arn = await rig.createSecret('unpinned', unpinned);
    const result = await rig.rotate(arn, rig.handler(sshKeys()));
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('pins no host key');
    expect(result.error).toContain('SSH_HOST_KEYS');
    // The deployer's pin is enough.
    const retried = await rig.rotate(arn, rig.handler(sshKeys(), rig.pinEnv()), true);
    expect(retried.error).toBeUndefined();
  });

  it('SSH_ALLOWED_HOSTS refuses an unlisted host at createSecret, before any key is made or sent', async () => {
    const initial = await rig.installedKey();
    const arn = await rig.createSecret('allow', rig.secretFor(initial.privateKey));
    const result = await rig.rotate(
      arn,
      rig.handler(sshKeys(), { SSH_ALLOWED_HOSTS: '*.internal.example.com' }),
    );
    expect(result.failedStep).toBe('createSecret');
    expect(result.error).toContain('SSH_ALLOWED_HOSTS does not list');
    await expect(rig.value(arn, AWSPENDING)).rejects.toThrow();
  });
});
