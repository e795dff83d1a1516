import type { Client } from 'ssh2';
import { SecretShapeError, TargetRefusedError, TargetUnreachableError } from '../../core/errors.ts';
import type { StepContext } from '../../core/target.ts';
import { SSH_ENV, type SshHost, type SshSettings } from './hosts.ts';
import { fingerprintOf, type SshPublicKey } from './keys.ts';
import { loadSsh2 } from './ssh2-loader.ts';

interface SshLogin {
  readonly username: string;
  readonly privateKey: string;
  /** Which version the key came from, for messages. */
  readonly label: string;
}

/** One logged-in connection that runs shell scripts. */
export class SshSession {
  readonly #client: Client;
  readonly #host: SshHost;
  readonly #timeoutMs: number;

  constructor(client: Client, host: SshHost, timeoutMs: number) {
    this.#client = client;
    this.#host = host;
    this.#timeoutMs = timeoutMs;
  }

  /** Runs a POSIX sh script; resolves with its last line of output, rejects on a non-zero exit. */
  run(script: string, purpose: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(
          new TargetUnreachableError(
            'timeout',
            `${purpose} on ${this.#host.label} gave no answer within ${this.#timeoutMs} ms (${SSH_ENV.commandTimeoutMs})`,
          ),
        );
      }, this.#timeoutMs);
      this.#client.exec(script, (error, stream) => {
        if (error) {
          clearTimeout(timer);
          reject(
            new TargetRefusedError(
              'rejected',
              `${purpose} on ${this.#host.label}: the server refused to run a command (${error.message})`,
            ),
          );
          return;
        }
        let out = '';
        let err = '';
        stream.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
        });
        stream.stderr.on('data', (chunk: Buffer) => {
          err += chunk.toString('utf8');
        });
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          if (code === 0) resolve(out.trim().split('\n').at(-1) ?? '');
          else
            reject(
              new TargetRefusedError(
                'permission',
                `${purpose} on ${this.#host.label} failed (exit ${code ?? 'by signal'}): ${err.trim().slice(0, 300) || 'no message'}`,
              ),
            );
        });
      });
    });
  }

  close(): void {
    this.#client.end();
  }
}

/**
 * Logs in with `login`, refusing any host key not pinned for the host. Resolves `undefined` when the
 * server refuses the key (so callers can try another version); every other failure throws.
 */
export async function tryOpenSsh(
  host: SshHost,
  login: SshLogin,
  pins: ReadonlySet<string>,
  settings: SshSettings,
  ctx: StepContext,
): Promise<SshSession | undefined> {
  if (pins.size === 0) {
    return Promise.reject(
      new SecretShapeError(
        'hostKeys',
        `pins no host key for ${host.label}, and ${SSH_ENV.hostKeys} has none either, so no connection was opened (a host key is never accepted unchecked)`,
        `add "${host.label}": "SHA256:…" (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host) to hostKeys, or the deployer adds it to ${SSH_ENV.hostKeys}`,
      ),
    );
  }
  const ssh2 = await loadSsh2();
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let offered: string | undefined;
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
    };
    client.on('ready', () => finish(() => resolve(new SshSession(client, host, settings.commandTimeoutMs))));
    client.on('error', (error: Error & { level?: string; code?: string }) => {
      client.end();
      finish(() => {
        if (offered !== undefined && !pins.has(offered)) {
          ctx.metrics.count('SshHostKeyRefused');
          reject(
            new TargetRefusedError(
              'rejected',
              `${host.label} offered host key ${offered}, which is not pinned for it (pinned: ${[...pins].join(', ')}); no key was sent. If the host's key changed on purpose, pin the new fingerprint`,
            ),
          );
        } else if (error.level === 'client-authentication') {
          ctx.logger.info('key refused', { host: host.label, user: login.username, key: login.label });
          resolve(undefined);
        } else if (error.level === 'client-timeout') {
          reject(
            new TargetUnreachableError(
              'timeout',
              `${host.label} did not complete the SSH handshake within ${settings.connectTimeoutMs} ms (${SSH_ENV.connectTimeoutMs})`,
            ),
          );
        } else {
          reject(
            new TargetUnreachableError(
              'network',
              `could not reach ${host.label}: ${error.code ?? error.message}`,
            ),
          );
        }
      });
    });
    client.on('close', () =>
      finish(() =>
        reject(new TargetUnreachableError('network', `${host.label} closed the connection during login`)),
      ),
    );
    client.connect({
      host: host.host,
      port: host.port,
      username: login.username,
      privateKey: login.privateKey,
      readyTimeout: settings.connectTimeoutMs,
      hostVerifier: (key: Buffer) => {
        offered = fingerprintOf(key);
        return pins.has(offered);
      },
    });
    // Login is a dozen small request-answer packets: with Nagle's algorithm each one waits for the
    // server's delayed ACK (40 ms on Linux), which made a login take 200 ms instead of 45.
    client.setNoDelay(true);
  });
}

/** The line that must be in the file, as a shell word; and the path, with `~/` meaning the home directory. */
function quoted(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function pathWord(path: string): string {
  return path.startsWith('~/') ? `"$HOME"/${quoted(path.slice(2))}` : quoted(path);
}

/** Shell lines putting what `command` prints in place of "$f": a new file renamed over the old, so a crash never leaves half a file. */
function replaceFileWith(command: string): string[] {
  return ['t="$f.secrets-rotator.$$"', `${command} > "$t"`, 'mv -f "$t" "$f"'];
}

/**
 * Appends the key unless the file already holds it (matched by key blob, so options and comments do
 * not matter). Two copies of a step can both find it missing and both append: whichever counts two
 * copies afterwards keeps only the first, renaming a new file over the old as removal does.
 */
export function addKeyScript(file: string, key: SshPublicKey): string {
  const blob = quoted(` ${key.blob}`);
  return [
    'set -e',
    'umask 077',
    `f=${pathWord(file)}`,
    'mkdir -p "$(dirname "$f")"',
    '[ -f "$f" ] || : > "$f"',
    `if grep -qF -- ${blob} "$f"; then echo present; exit 0; fi`,
    // A last line without its newline would run into the appended key.
    'if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >> "$f"; fi',
    `printf '%s\\n' ${quoted(key.line)} >> "$f"`,
    `if [ "$(grep -cF -- ${blob} "$f")" -gt 1 ]; then`,
    ...replaceFileWith(`awk -v b=${blob} 'index($0, b) { if (seen++) next } { print }' "$f"`),
    'fi',
    'echo added',
  ].join('\n');
}

/** Removes every line holding the key (through a new file renamed over the old). */
export function removeKeyScript(file: string, key: SshPublicKey): string {
  const blob = quoted(` ${key.blob}`);
  return [
    'set -e',
    'umask 077',
    `f=${pathWord(file)}`,
    `if [ ! -f "$f" ] || ! grep -qF -- ${blob} "$f"; then echo absent; exit 0; fi`,
    // grep's status 1 is "every line was the key": an empty file, not a failure.
    ...replaceFileWith(`{ grep -vF -- ${blob} "$f" || [ $? -eq 1 ]; }`),
    'echo removed',
  ].join('\n');
}
