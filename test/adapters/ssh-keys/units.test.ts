import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDeployerPins, parseHost } from '../../../src/adapters/ssh-keys/hosts.ts';
import { sshKeys } from '../../../src/adapters/ssh-keys/index.ts';
import {
  fingerprintOf,
  generateSshKeyPair,
  parsePublicKeyLine,
  publicKeyOf,
} from '../../../src/adapters/ssh-keys/keys.ts';
import { parseJsonSecret } from '../../../src/adapters/ssh-keys/secret.ts';
import { addKeyScript, removeKeyScript } from '../../../src/adapters/ssh-keys/session.ts';
import { loadSsh2 } from '../../../src/adapters/ssh-keys/ssh2-loader.ts';
import { ConfigurationError } from '../../../src/core/errors.ts';
import { directContext, Rig, rejection } from './rig.ts';

// The parsers are synchronous; the target's prepare() (here loadSsh2) loads ssh2 first.
beforeAll(() => loadSsh2());

const run = promisify(execFile);
const KEY_A = parsePublicKeyLine(
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@x',
  'k',
);
const KEY_B = parsePublicKeyLine(
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb b@x',
  'k',
);

describe('the authorized_keys scripts, run by sh on real files', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'ssh-scripts-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });
  const sh = async (script: string) =>
    (await run('/bin/sh', ['-c', script], { env: { HOME: home, PATH: '/usr/bin:/bin' } })).stdout.trim();
  const file = () => join(home, '.ssh', 'authorized_keys');

  it('adds to a missing file under ~/ (folders made, mode 600), once however often it runs', async () => {
    expect(await sh(addKeyScript('~/.ssh/authorized_keys', KEY_A))).toBe('added');
    expect(await sh(addKeyScript('~/.ssh/authorized_keys', KEY_A))).toBe('present');
    expect(await readFile(file(), 'utf8')).toBe(`${KEY_A.line}\n`);
    expect((await run('stat', ['-c', '%a', file()])).stdout.trim()).toBe('600');
  });

  it('finds a key by its blob whatever its options and comment; keeps every other line', async () => {
    await writeFile(
      file(),
      `# team keys\nfrom="10.0.0.0/8" ${KEY_A.type} ${KEY_A.blob} other-comment\nssh-rsa AAAAB3Nza other`,
    );
    expect(await sh(addKeyScript('~/.ssh/authorized_keys', KEY_A))).toBe('present');
    // The last line had no newline: the new key starts a line of its own.
    expect(await sh(addKeyScript('~/.ssh/authorized_keys', KEY_B))).toBe('added');
    expect(await sh(removeKeyScript('~/.ssh/authorized_keys', KEY_A))).toBe('removed');
    expect(await sh(removeKeyScript('~/.ssh/authorized_keys', KEY_A))).toBe('absent');
    expect(await readFile(file(), 'utf8')).toBe(`# team keys\nssh-rsa AAAAB3Nza other\n${KEY_B.line}\n`);
  });

  it('keeps one line when another copy of the step appends the same key between its check and its append', async () => {
    // The other copy plays out inside `tail`, which the script runs after its check and before its append.
    const bin = join(home, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(
      join(bin, 'tail'),
      `#!/bin/sh\nfor last; do :; done\nprintf '%s\\n' '${KEY_A.line}' >> "$last"\nexec /usr/bin/tail "$@"\n`,
      { mode: 0o755 },
    );
    await writeFile(file(), `${KEY_B.line}\n`);
    const script = addKeyScript('~/.ssh/authorized_keys', KEY_A);
    const { stdout } = await run('/bin/sh', ['-c', script], {
      env: { HOME: home, PATH: `${bin}:/usr/bin:/bin` },
    });
    expect(stdout.trim()).toBe('added');
    expect(await readFile(file(), 'utf8')).toBe(`${KEY_B.line}\n${KEY_A.line}\n`);
    await rm(bin, { recursive: true });
  });

  it('removing from a missing file, or the last key of a file, succeeds', async () => {
    expect(await sh(removeKeyScript(join(home, 'none', 'keys'), KEY_A))).toBe('absent');
    await writeFile(file(), `${KEY_B.line}\n`);
    expect(await sh(removeKeyScript(file(), KEY_B))).toBe('removed');
    expect(await readFile(file(), 'utf8')).toBe('');
  });

  it('quotes what it is given: a quote in a comment is text, not shell', async () => {
    const odd = parsePublicKeyLine(`${KEY_A.type} ${KEY_A.blob} it's $(touch ${home}/pwned)`, 'k');
    await writeFile(file(), '');
    expect(await sh(addKeyScript(file(), odd))).toBe('added');
    expect(await readFile(file(), 'utf8')).toBe(`${odd.line}\n`);
    await expect(readFile(join(home, 'pwned'))).rejects.toThrow();
  });
});

it('every generated ed25519 pair reads back (ssh2 alone drops a leading zero byte from about 1 in 150)', async () => {
  for (let index = 0; index < 1000; index += 1) {
    const pair = await generateSshKeyPair('ed25519', 3072, 'test');
    const blob = publicKeyOf(pair.privateKey, 'privateKey').blob;
    expect(blob).toBe(pair.publicKey.split(' ')[1]);
    expect(Buffer.from(blob, 'base64')).toHaveLength(51);
  }
});

describe('hosts and pinned host keys', () => {
  it('reads host, host:port, [v6]:port and bare IPv6; refuses the rest', () => {
    expect(parseHost('Web1.Internal.')).toMatchObject({
      host: 'web1.internal',
      port: 22,
      label: 'web1.internal:22',
    });
    expect(parseHost('10.0.0.7:2222')?.label).toBe('10.0.0.7:2222');
    expect(parseHost('[::1]:2200')?.label).toBe('[::1]:2200');
    expect(parseHost('fe80::1')?.label).toBe('[fe80::1]:22');
    for (const bad of ['', 'a b', 'host:0', 'host:70000', 'user@host', "h'x"])
      expect(parseHost(bad)).toBeUndefined();
  });

  it('SSH_HOST_KEYS takes fingerprints and known_hosts lines (several names each); a bad entry names the variable', () => {
    const key = 'AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const pins = parseDeployerPins(
      `web1 SHA256:${'x'.repeat(43)}\n[10.0.0.7]:2222,db ssh-ed25519 ${key}; # a comment`,
    );
    expect([...(pins.get('web1:22') ?? [])]).toEqual([`SHA256:${'x'.repeat(43)}`]);
    expect([...(pins.get('10.0.0.7:2222') ?? [])]).toEqual([fingerprintOf(key)]);
    expect([...(pins.get('db:22') ?? [])]).toEqual([fingerprintOf(key)]);
    expect(() => parseDeployerPins('web1 MD5:aa')).toThrow(ConfigurationError);
    expect(() => parseDeployerPins(`|1|hash= ssh-ed25519 ${key}`)).toThrow(/SSH_HOST_KEYS has the entry/);
  });

  it('fingerprints as ssh-keygen prints them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ssh-fp-'));
    try {
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
      const printed = (await run('ssh-keygen', ['-l', '-f', join(dir, 'k.pub')])).stdout.split(' ')[1];
      const line = await readFile(join(dir, 'k.pub'), 'utf8');
      expect(fingerprintOf(line.split(' ')[1]!)).toBe(printed);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('each step is safe to run again, on a private sshd', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await Rig.start();
  });
  afterAll(async () => {
    await rig?.stop();
  });

  const secretOf = (privateKey: string) => parseJsonSecret(JSON.stringify(rig.secretFor(privateKey)));
  const known = (current: ReturnType<typeof secretOf>, previous?: ReturnType<typeof secretOf>) => ({
    current: async () => current,
    previous: async () => previous,
  });

  it('setSecret twice adds one line; finishSecret twice removes the old key once; a stale key goes at the next setSecret', async () => {
    const target = sshKeys();
    const ctx = directContext({});
    const stale = await rig.installedKey();
    const current = await rig.installedKey();
    const pending = await rig.sshd.keyPair();
    const [staleValue, currentValue, pendingValue] = [stale, current, pending].map((pair) =>
      secretOf(pair.privateKey),
    );
    await target.apply(pendingValue!, known(currentValue!, staleValue), ctx);
    await target.apply(pendingValue!, known(currentValue!, staleValue), ctx);
    const lines = await rig.sshd.authorizedKeys();
    expect(lines.filter((line) => line.includes(pendingValue!.publicKey.blob))).toHaveLength(1);
    // The stale key, older than the current one, went in the same session.
    expect(lines.some((line) => line.includes(staleValue!.publicKey.blob))).toBe(false);
    expect(ctx.lines.map((line) => line.message)).toContain('the new public key was already installed');
    await target.verify(pendingValue!, ctx);
    await target.afterPromotion!(pendingValue!, currentValue!, ctx);
    await target.afterPromotion!(pendingValue!, currentValue!, ctx);
    expect(ctx.lines.map((line) => line.message)).toContain('the old public key was already removed');
    expect(await rig.sshd.canLogin(current.privateKey)).toBe(false);
    expect(await rig.sshd.canLogin(pending.privateKey)).toBe(true);
    // revoke (rotate --emergency) removes a key with the key itself.
    await target.revoke!(pendingValue!, ctx);
    expect(await rig.sshd.canLogin(pending.privateKey)).toBe(false);
  });

  it('setSecret when no stored key logs in: refused naming the host and the fix, nothing written', async () => {
    const target = sshKeys();
    const stranger = await rig.sshd.keyPair();
    const pending = await rig.sshd.keyPair();
    const before = await rig.sshd.authorizedKeys();
    const error = await rejection(
      target.apply(secretOf(pending.privateKey), known(secretOf(stranger.privateKey)), directContext({})),
    );
    expect(error.message).toContain(`${rig.sshd.host}:${rig.sshd.port} refused every stored key`);
    expect(error.message).toContain('put a working key in the AWSCURRENT version');
    expect(await rig.sshd.authorizedKeys()).toEqual(before);
  });

  it('a stalled host: the connect timeout names the variable', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const key = await rig.sshd.keyPair();
      const value = parseJsonSecret(
        JSON.stringify({
          ...rig.secretFor(key.privateKey),
          hosts: [`127.0.0.1:${port}`],
          hostKeys: { [`127.0.0.1:${port}`]: rig.sshd.hostKeyFingerprint },
        }),
      );
      const error = await rejection(
        sshKeys().verify(value, directContext({ SSH_CONNECT_TIMEOUT_MS: '500' })),
      );
      expect(error.message).toMatch(
        /timeout failure: 127\.0\.0\.1:\d+ did not complete the SSH handshake within 500 ms \(SSH_CONNECT_TIMEOUT_MS\)/,
      );
    } finally {
      silent.close();
    }
  });
});
