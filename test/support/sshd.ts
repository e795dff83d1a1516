/**
 * A private sshd for one test file: the machine's OpenSSH server on a free loopback port with its
 * own host key, config, pid file and authorized_keys folder, public-key logins only. Logins are
 * checked with the OpenSSH client, never with the adapter's own client library.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import {
  makeInstanceDir,
  removeInstanceDir,
  requireExecutables,
  run,
  serverEnvironment,
  startOnFreePort,
  startServerProcess,
} from './server-process.ts';

const SSHD = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const SSH = '/usr/bin/ssh';
const INSTALL = 'apt-get install openssh-server openssh-client';
/** sshd allows up to 256 AuthorizedKeysFile entries; more cases than this never run at once. */
const SLOTS = 48;

export interface SshdInstance {
  readonly host: string;
  readonly port: number;
  /** The account logins use: the one running the tests (sshd only lets a non-root server log in as itself). */
  readonly user: string;
  /** The host key's OpenSSH fingerprint, `SHA256:…`. */
  readonly hostKeyFingerprint: string;
  /** The host key as a known_hosts key: `ssh-ed25519 AAAA…`. */
  readonly hostPublicKey: string;
  /** The file sshd reads the user's authorized keys from. */
  readonly authorizedKeysFile: string;
  /**
   * Another file sshd reads the user's keys from, for one case alone (cases in parallel must not
   * edit one file); empty when claimed, freed by `release`.
   */
  claimKeysFile(): Promise<{ file: string; release(): void }>;
  authorizedKeys(): Promise<string[]>;
  setAuthorizedKeys(lines: readonly string[]): Promise<void>;
  /** Whether the OpenSSH client logs in with this private key (and checks the pinned host key). */
  canLogin(privateKey: string): Promise<boolean>;
  /** A fresh key pair from ssh-keygen, in OpenSSH format. */
  keyPair(type?: 'ed25519' | 'rsa'): Promise<{ privateKey: string; publicKey: string }>;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<SshdInstance> {
  await requireExecutables([SSHD, SSH_KEYGEN, SSH], INSTALL);
  const root = process.getuid?.() === 0;
  // Debian's sshd refuses to start without its privilege-separation folder, made by the service otherwise.
  if (root) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const user = userInfo().username;
  const dir = await makeInstanceDir('sr-sshd-', undefined);
  try {
    const hostKey = join(dir, 'host_key');
    await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'test-host', '-f', hostKey]);
    const hostPublicKey = (await readFile(`${hostKey}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    const hostKeyFingerprint = fingerprint(hostPublicKey);
    await mkdir(join(dir, 'keys'), { mode: 0o700 });
    const authorizedKeysFile = join(dir, 'keys', user);
    await writeFile(authorizedKeysFile, '', { mode: 0o600 });
    await mkdir(join(dir, 'slots'), { mode: 0o700 });
    const slotFiles = Array.from({ length: SLOTS }, (_, index) => join(dir, 'slots', String(index)));
    const freeSlots = [...slotFiles];
    // sshd runs each command through the account's shell, and bash then reads ~/.bashrc: a private
    // HOME keeps this machine's shell set-up (pyenv's takes half a second here) out of every command.
    const home = join(dir, 'home');
    await mkdir(home, { mode: 0o700 });
    const logPath = join(dir, 'sshd.log');
    const configPath = join(dir, 'sshd_config');
    const { server, port } = await startOnFreePort({
      name: 'startSshd',
      logPath,
      readyText: 'Server listening on 127.0.0.1',
      portTaken: /Address already in use/,
      start: (port) => {
        const config = [
          `Port ${port}`,
          'ListenAddress 127.0.0.1',
          `HostKey ${hostKey}`,
          `PidFile ${join(dir, 'sshd.pid')}`,
          'UsePAM no',
          'StrictModes no',
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          `AuthorizedKeysFile ${[join(dir, 'keys', '%u'), ...slotFiles].join(' ')}`,
          `AllowUsers ${user}`,
          `SetEnv HOME=${home}`,
          'LogLevel VERBOSE',
          // The fault suite stalls connections before login on purpose; sshd's default (10) would
          // then drop other cases' connections at random.
          'MaxStartups 200',
        ];
        writeFileSync(configPath, `${config.join('\n')}\n`, { mode: 0o600 });
        return startServerProcess({
          command: SSHD,
          args: ['-D', '-e', '-f', configPath],
          account: undefined,
          logPath,
          instanceDir: dir,
          stopSignal: 'SIGTERM',
        });
      },
    });
    const knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
    let keyCounter = 0;
    let stopped: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      user,
      hostKeyFingerprint,
      hostPublicKey,
      authorizedKeysFile,
      authorizedKeys: async () =>
        (await readFile(authorizedKeysFile, 'utf8')).split('\n').filter((line) => line.trim() !== ''),
      async claimKeysFile() {
        const file = freeSlots.shift();
        if (!file) throw new Error(`startSshd: all ${SLOTS} authorized_keys slots are claimed`);
        await writeFile(file, '', { mode: 0o600 });
        return { file, release: () => freeSlots.push(file) };
      },
      setAuthorizedKeys: (lines) =>
        writeFile(authorizedKeysFile, lines.map((line) => `${line}\n`).join(''), { mode: 0o600 }),
      async canLogin(privateKey) {
        keyCounter += 1;
        const keyFile = join(dir, `login-${keyCounter}`);
        await writeFile(keyFile, privateKey.endsWith('\n') ? privateKey : `${privateKey}\n`, { mode: 0o600 });
        const args = [
          ...['-F', '/dev/null', '-i', keyFile, '-p', String(port), '-o', 'BatchMode=yes'],
          ...[
            '-o',
            'IdentitiesOnly=yes',
            '-o',
            'StrictHostKeyChecking=yes',
            '-o',
            `UserKnownHostsFile=${knownHosts}`,
          ],
          ...['-o', 'ConnectTimeout=10', `${user}@127.0.0.1`, 'echo logged-in'],
        ];
        try {
          return (await run(SSH, args, { env: serverEnvironment(), timeoutMs: 20_000 })) === 'logged-in';
        } catch (error) {
          if (/Permission denied \(publickey\)/.test((error as Error).message)) return false;
          throw error;
        }
      },
      async keyPair(type = 'ed25519') {
        keyCounter += 1;
        const keyFile = join(dir, `pair-${keyCounter}`);
        await run(SSH_KEYGEN, [
          '-q',
          '-t',
          type,
          ...(type === 'rsa' ? ['-b', '3072'] : []),
          '-N',
          '',
          '-C',
          'test',
          '-f',
          keyFile,
        ]);
        return {
          privateKey: await readFile(keyFile, 'utf8'),
          publicKey: (await readFile(`${keyFile}.pub`, 'utf8')).trim(),
        };
      },
      stop() {
        stopped ??= (async () => {
          await server.stop();
          await removeInstanceDir(dir);
        })();
        return stopped;
      },
    };
  } catch (error) {
    await removeInstanceDir(dir);
    throw error;
  }
}

/** OpenSSH's `SHA256:` fingerprint of a public key line (`type base64 [comment]`). */
export function fingerprint(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
