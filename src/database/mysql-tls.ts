/**
 * mysql2 connections following a TlsMode, per connection. Without TLS, the cleartext plugin and a
 * server-supplied RSA key are refused unless MYSQL_SERVER_PUBLIC_KEY pins the key.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type mysql from 'mysql2/promise';
import { ConfigurationError } from '../core/errors.ts';
import { nodeCrypto } from '../core/node-crypto.ts';
import { isTlsSocket } from './connection.ts';
import { pemTextFrom } from './settings.ts';
import { plaintextPasswordRefused, type TlsMode, type TlsOutcome, type TlsPolicy } from './tls.ts';

interface MysqlTlsPolicy extends TlsPolicy {
  readonly serverPublicKey: string | undefined;
}

const SERVER_PUBLIC_KEY_VARIABLE = 'MYSQL_SERVER_PUBLIC_KEY';

export function serverPublicKeyFrom(value: string | undefined, variable: string): string | undefined {
  if (value === undefined) return undefined;
  const pem = pemTextFrom(value, variable, "the server's RSA public key (PEM)");
  try {
    const key = nodeCrypto().createPublicKey(pem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
  } catch {
    throw new ConfigurationError(
      variable,
      "holds no RSA public key in PEM form; give the server's key (the file named by caching_sha2_password_public_key_path, or SHOW STATUS LIKE 'Caching_sha2_password_rsa_public_key')",
    );
  }
  return pem;
}

const CLIENT_SSL = 0x0800;

/** `undefined` for an error packet, `incomplete` until enough bytes arrived. */
function greetingCapabilities(bytes: Buffer): number | undefined | 'incomplete' {
  if (bytes.length < 5) return 'incomplete';
  if (bytes[4] !== 10) return undefined;
  const versionEnd = bytes.indexOf(0, 5);
  if (versionEnd < 0) return 'incomplete';
  // After the version: connection id (4), first part of the scramble (8), a filler byte.
  const flagsAt = versionEnd + 1 + 4 + 8 + 1;
  if (bytes.length < flagsAt + 2) return 'incomplete';
  return bytes.readUInt16LE(flagsAt);
}

function watchGreeting(socket: Socket, decide: (offersTls: boolean) => void): void {
  let received = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const flags = greetingCapabilities(received);
    if (flags === 'incomplete') return;
    socket.off('data', onData);
    if (flags !== undefined) decide((flags & CLIENT_SSL) !== 0);
  };
  socket.on('data', onData);
}

export function mysqlTlsOutcome(connection: { readonly stream?: unknown }, mode: TlsMode): TlsOutcome {
  if (isTlsSocket(connection.stream)) return 'verified';
  return mode === 'disable' ? 'disabled' : 'plaintext';
}

/**
 * Under `prefer`, a server without TLS turns TLS off for that connection alone (mysql2 gives each pooled
 * connection its own settings).
 */
export function mysqlTlsConnectionOptions(
  policy: MysqlTlsPolicy,
  target: { readonly host: string; readonly port: number },
): Pick<mysql.ConnectionOptions, 'ssl' | 'stream' | 'authPlugins'> {
  const server = `${target.host}:${target.port}`;
  const stream = (options: { config: { ssl?: unknown } }) => {
    const socket = netConnect({ host: target.host, port: target.port });
    if (policy.mode === 'prefer') {
      watchGreeting(socket, (offersTls) => {
        if (offersTls) return;
        // This connection's own copy of the settings: the others keep asking for TLS.
        options.config.ssl = false;
        policy.onPlaintext?.(server);
      });
    }
    return socket;
  };
  return {
    ...(policy.mode === 'disable'
      ? {}
      : {
          ssl: {
            rejectUnauthorized: true,
            verifyIdentity: true,
            ...(policy.ca === undefined ? {} : { ca: policy.ca as string | string[] | Buffer | Buffer[] }),
          },
        }),
    stream,
    authPlugins: guardedAuthPlugins(policy, server),
  };
}

type PluginConnection = { readonly stream?: unknown; readonly config: { readonly password?: string } };

function guardedAuthPlugins(policy: MysqlTlsPolicy, server: string): Record<string, mysql.AuthPlugin> {
  const secure = (connection: PluginConnection) => isTlsSocket(connection.stream);
  const passwordOf = (connection: PluginConnection) => connection.config.password ?? '';

  const clearPassword: mysql.AuthPlugin =
    ({ connection }) =>
    () => {
      const conn = connection as unknown as PluginConnection;
      if (!secure(conn)) throw refusal(policy, server, 'the password in cleartext (mysql_clear_password)');
      return Buffer.from(`${passwordOf(conn)}\0`, 'utf8');
    };

  // Without TLS: the pinned key, else refused (never a key the server sends).
  const encryptedPassword = (conn: PluginConnection, scramble: Buffer, plugin: string) => {
    if (secure(conn)) return Buffer.from(`${passwordOf(conn)}\0`, 'utf8');
    if (policy.serverPublicKey === undefined) {
      throw refusal(policy, server, `its own RSA key to encrypt the password to (${plugin})`);
    }
    return rsaEncryptedPassword(passwordOf(conn), scramble, policy.serverPublicKey);
  };

  const sha256Password: mysql.AuthPlugin =
    ({ connection }) =>
    (data) => {
      const conn = connection as unknown as PluginConnection;
      return encryptedPassword(conn, data.subarray(0, 20), 'sha256_password');
    };

  const cachingSha2Password: mysql.AuthPlugin = ({ connection }) => {
    const conn = connection as unknown as PluginConnection;
    let scramble: Buffer | undefined;
    return (data) => {
      if (scramble === undefined) {
        scramble = Buffer.from(data.subarray(0, 20));
        return scrambledSha256(passwordOf(conn), scramble);
      }
      // 3: the server found the password in its cache; 4: it wants the whole password.
      if (data.length === 1 && data[0] === 3) return null;
      if (data.length === 1 && data[0] === 4)
        return encryptedPassword(conn, scramble, 'caching_sha2_password');
      throw refusal(policy, server, 'an unexpected caching_sha2_password exchange');
    };
  };
  return {
    mysql_clear_password: clearPassword,
    sha256_password: sha256Password,
    caching_sha2_password: cachingSha2Password,
  };
}

function refusal(policy: MysqlTlsPolicy, server: string, request: string): Error {
  return plaintextPasswordRefused(
    `logging in to ${server}`,
    request,
    `keep ${policy.variable} at verify-full with TLS on the server${request.includes('RSA') ? `, or pin the server's RSA public key in ${SERVER_PUBLIC_KEY_VARIABLE}` : ''}`,
  );
}

function sha256(...parts: Buffer[]): Buffer {
  const hash = nodeCrypto().createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** caching_sha2_password's first answer: SHA256(p) XOR SHA256(SHA256(SHA256(p)), scramble). */
function scrambledSha256(password: string, scramble: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const once = sha256(Buffer.from(password, 'utf8'));
  const mixed = sha256(sha256(once), scramble);
  return Buffer.from(once.map((byte, index) => byte ^ (mixed[index] ?? 0)));
}

/** The password (NUL-terminated, XOR the scramble repeated) encrypted to the pinned key, RSA-OAEP. */
function rsaEncryptedPassword(password: string, scramble: Buffer, publicKey: string): Buffer {
  const plain = Buffer.from(`${password}\0`, 'utf8');
  const mixed = Buffer.from(plain.map((byte, index) => byte ^ (scramble[index % scramble.length] ?? 0)));
  const { constants, publicEncrypt } = nodeCrypto();
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, mixed);
}
