/**
 * Fake database servers on loopback that play the attacker: they accept logins (PostgreSQL without
 * asking for a password at all, as `trust` does: a server without TLS asking for one in clear text
 * is refused by the rotator, see test/security/tls.test.ts), record every byte they receive, and answer
 * just enough of each protocol for the rotator's "current credentials log in" guard to pass, so
 * that the master credentials would come next. `refuseUsers` lets the attacker fail one login
 * (the pending user's), so that the rotator does not stop at "pending already works".
 */
import { createServer, type Server, type Socket } from 'node:net';

/** A running fake server. */
export interface AttackerDatabase {
  readonly host: string;
  readonly port: number;
  /** Every chunk received, from every connection. */
  readonly received: Buffer[];
  /** How many connections were opened to it. */
  connections(): number;
  /** The user names that tried to log in, in order. */
  readonly logins: string[];
  close(): Promise<void>;
}

/** Options of the fake servers. */
export interface AttackerOptions {
  /** Logins by these users are refused (after their password was received). */
  readonly refuseUsers?: readonly string[];
}

/** Runs a fake server on a free loopback port; `handle` plays the protocol on each connection. */
export async function listen(
  handle: (socket: Socket, state: AttackerDatabase & { logins: string[] }) => void,
): Promise<AttackerDatabase> {
  const received: Buffer[] = [];
  const logins: string[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer();
  const state = {
    host: '127.0.0.1',
    port: 0,
    received,
    logins,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', (socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => received.push(Buffer.from(chunk)));
    handle(socket, state);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return Object.assign(state, { port: address.port });
}

/** Reads framed messages from a socket as they arrive. */
export class Reader {
  #buffer = Buffer.alloc(0);
  #waiting: (() => void) | undefined;
  #ended = false;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#waiting?.();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#waiting?.();
    });
  }

  async take(length: number): Promise<Buffer | undefined> {
    while (this.#buffer.length < length) {
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
      });
      this.#waiting = undefined;
    }
    const taken = this.#buffer.subarray(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return taken;
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** A PostgreSQL backend message: type byte, length, body. */
export function pgMessage(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

/** A big-endian 32-bit integer. */
export function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

/**
 * Reads a PostgreSQL client's opening: each SSLRequest / GSSENCRequest is answered with
 * `answerTls()` ('N' = no, go on; 'S' = yes, then the fake hangs up; bytes are sent as they are),
 * then the startup message.
 * Returns the user it names, or undefined when the client (or an 'S' answer) ended the connection.
 */
export async function readPostgresStartup(
  reader: Reader,
  socket: Socket,
  answerTls: () => 'N' | 'S' | Buffer = () => 'N',
): Promise<string | undefined> {
  for (;;) {
    const lengthBytes = await reader.take(4);
    if (!lengthBytes) return undefined;
    const body = await reader.take(lengthBytes.readInt32BE() - 4);
    if (!body) return undefined;
    const code = body.readInt32BE(0);
    if (code === 80877103 || code === 80877104) {
      const answer = answerTls();
      if (answer === 'S') {
        socket.end('S');
        return undefined;
      }
      socket.write(answer);
      continue;
    }
    let user = '';
    const fields = body.subarray(4).toString('utf8').split('\0');
    for (let index = 0; index + 1 < fields.length; index += 2) {
      if (fields[index] === 'user') user = fields[index + 1] ?? '';
    }
    return user;
  }
}

function pgError(code: string, message: string): Buffer {
  return pgMessage('E', Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'latin1'));
}

/**
 * A fake PostgreSQL server: refuses TLS, accepts the login without asking for a password (as
 * `trust` authentication does) and answers every simple query with an empty result.
 *
 * @example
 * ```ts
 * const attacker = await startAttackerPostgres({ refuseUsers: ['app_clone'] });
 * credentialsIn(attacker.received, [masterPassword]); // [] when the rotator refused to go there
 * ```
 */
export function startAttackerPostgres(options: AttackerOptions = {}): Promise<AttackerDatabase> {
  return listen((socket, state) => {
    const reader = new Reader(socket);
    void (async () => {
      const user = await readPostgresStartup(reader, socket);
      if (user === undefined) return;
      state.logins.push(user);
      if (options.refuseUsers?.includes(user)) {
        socket.end(pgError('28P01', `password authentication failed for user "${user}"`));
        return;
      }
      socket.write(
        Buffer.concat([
          pgMessage('R', int32(0)),
          pgMessage('S', Buffer.from('server_version\u000016.4\u0000')),
          pgMessage('Z', Buffer.from('I')),
        ]),
      );
      for (;;) {
        const messageType = await reader.take(1);
        const messageLength = await reader.take(4);
        if (!messageType || !messageLength) return;
        await reader.take(messageLength.readInt32BE() - 4);
        const kind = messageType.toString('latin1');
        if (kind === 'X') return void socket.end();
        if (kind === 'Q') {
          socket.write(Buffer.concat([pgMessage('I', Buffer.alloc(0)), pgMessage('Z', Buffer.from('I'))]));
        } else if (kind === 'S') {
          socket.write(pgMessage('Z', Buffer.from('I')));
        }
      }
    })();
  });
}

// ---------------------------------------------------------------------------------------------
// MySQL

/** A MySQL packet: 3-byte length, sequence number, payload. */
export function mysqlPacket(sequence: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header.writeUInt8(sequence & 0xff, 3);
  return Buffer.concat([header, payload]);
}

function lenenc(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length >= 251) throw new Error('long strings are not needed here');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

const OK_PAYLOAD = Buffer.from([0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);
const EOF_PAYLOAD = Buffer.from([0xfe, 0x00, 0x00, 0x02, 0x00]);

function columnDefinition(name: string): Buffer {
  const fixed = Buffer.alloc(13);
  fixed.writeUInt8(0x0c, 0);
  fixed.writeUInt16LE(33, 1); // utf8_general_ci
  fixed.writeUInt32LE(1024, 3);
  fixed.writeUInt8(0xfd, 7); // VAR_STRING
  return Buffer.concat([
    lenenc('def'),
    lenenc(''),
    lenenc(''),
    lenenc(''),
    lenenc(name),
    lenenc(name),
    fixed,
  ]);
}

/** A MySQL 8.0 server greeting without TLS, with this scramble. */
export function greeting(scramble = Buffer.from('abcdefghijklmnopqrst', 'latin1')): Buffer {
  // PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH, LONG_PASSWORD, LONG_FLAG, CONNECT_WITH_DB,
  // TRANSACTIONS, MULTI_RESULTS, PLUGIN_AUTH_LENENC_CLIENT_DATA; no SSL.
  const capabilities = 0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000 | 0x200000;
  const middle = Buffer.alloc(2 + 1 + 2 + 2 + 1 + 10);
  middle.writeUInt16LE(capabilities & 0xffff, 0);
  middle.writeUInt8(33, 2);
  middle.writeUInt16LE(0x0002, 3);
  middle.writeUInt16LE(capabilities >>> 16, 5);
  middle.writeUInt8(21, 7);
  return Buffer.concat([
    Buffer.from([0x0a]),
    Buffer.from('8.0.36-attacker\0', 'latin1'),
    Buffer.from([1, 0, 0, 0]),
    scramble.subarray(0, 8),
    Buffer.from([0]),
    middle,
    scramble.subarray(8),
    Buffer.from([0]),
    Buffer.from('mysql_native_password\0', 'latin1'),
  ]);
}

/**
 * A fake MySQL server: offers no TLS, accepts any `mysql_native_password` login (whose answer
 * lets the attacker crack the password offline), answers the adapter's version query as MySQL 8.0
 * and every other statement with OK.
 *
 * @example
 * ```ts
 * const attacker = await startAttackerMysql({ refuseUsers: ['app_clone'] });
 * ```
 */
export function startAttackerMysql(options: AttackerOptions = {}): Promise<AttackerDatabase> {
  return listen((socket, state) => {
    const reader = new Reader(socket);
    const readPacket = async (): Promise<{ sequence: number; payload: Buffer } | undefined> => {
      const header = await reader.take(4);
      if (!header) return undefined;
      const payload = await reader.take(header.readUIntLE(0, 3));
      if (!payload) return undefined;
      return { sequence: header.readUInt8(3), payload };
    };
    void (async () => {
      socket.write(mysqlPacket(0, greeting()));
      const response = await readPacket();
      if (!response) return;
      // capabilities(4) max packet(4) charset(1) filler(23), then the user name.
      const rest = response.payload.subarray(32);
      const user = rest.subarray(0, rest.indexOf(0)).toString('utf8');
      state.logins.push(user);
      // mysql2 refuses mysql_clear_password unless enabled, so the attacker takes the
      // mysql_native_password answer (crackable offline from the scramble) and accepts it.
      if (options.refuseUsers?.includes(user)) {
        const error = Buffer.concat([
          Buffer.from([0xff, 0x15, 0x04]), // 1045
          Buffer.from(`#28000Access denied for user '${user}'`, 'utf8'),
        ]);
        socket.end(mysqlPacket(response.sequence + 1, error));
        return;
      }
      socket.write(mysqlPacket(response.sequence + 1, OK_PAYLOAD));
      for (;;) {
        const command = await readPacket();
        if (!command) return;
        const code = command.payload[0];
        if (code === 0x01) return void socket.end();
        const text = command.payload.subarray(1).toString('utf8');
        if (code === 0x03 && /^SELECT VERSION\(\)/i.test(text)) {
          const names = ['version', 'versionComment', 'account', 'sqlMode'];
          const values = ['8.0.36', 'MySQL Community Server - GPL', `${user}@%`, 'STRICT_TRANS_TABLES'];
          let sequence = 1;
          const packets = [mysqlPacket(sequence++, Buffer.from([names.length]))];
          for (const name of names) packets.push(mysqlPacket(sequence++, columnDefinition(name)));
          packets.push(mysqlPacket(sequence++, EOF_PAYLOAD));
          packets.push(mysqlPacket(sequence++, Buffer.concat(values.map(lenenc))));
          packets.push(mysqlPacket(sequence++, EOF_PAYLOAD));
          socket.write(Buffer.concat(packets));
        } else {
          socket.write(mysqlPacket(1, OK_PAYLOAD));
        }
      }
    })();
  });
}
