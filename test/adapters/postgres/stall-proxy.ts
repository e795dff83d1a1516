/**
 * A loopback proxy in front of a PostgreSQL server that reads the client's side of the protocol
 * message by message, records which statements each connection sent, and can stall a connection at
 * the first statement matching a pattern: from then on nothing flows either way, yet everything the
 * client still writes is recorded. That is what shows whether code keeps talking on a connection it
 * should have given up (a `ROLLBACK` after a timeout, say), which the fault proxy of the reliability
 * suite, built to count I/O points, does not record.
 *
 * Only message types and the leading SQL keywords are kept, never literals (which may hold
 * verifiers), never the bytes themselves. Secrets behind it must set `"ssl": false` (an SSLRequest
 * would be read as the startup message).
 */
import { createServer, type Server, Socket } from 'node:net';

/**
 * One client message as recorded.
 *
 * @example
 * ```ts
 * const sent: SentMessage = { connection: 3, what: 'RELEASE SAVEPOINT', afterStall: false };
 * ```
 */
export interface SentMessage {
  /** 1-based, in the order connections were accepted. */
  readonly connection: number;
  /** `startup`, `sasl`, `terminate`, `message <type>`, or the statement's leading keywords (`ALTER ROLE`). */
  readonly what: string;
  /** Sent by the client on a connection that was already stalled: the server never got it. */
  readonly afterStall: boolean;
}

/**
 * The proxy; point the secret's `host` and `port` at it.
 *
 * @example
 * ```ts
 * const proxy = await StallProxy.start({ host: db.host, port: db.port });
 * proxy.begin(/^RELEASE SAVEPOINT/);
 * // … run the code under test against proxy.host:proxy.port …
 * proxy.sent.filter((message) => message.afterStall); // what it sent on the dead connection
 * ```
 */
export class StallProxy {
  readonly host = '127.0.0.1';
  /** Every client message, in arrival order. */
  readonly sent: SentMessage[] = [];
  readonly #server: Server;
  readonly #target: { readonly host: string; readonly port: number };
  readonly #clients = new Set<Socket>();
  #stallPattern: RegExp | undefined;
  #connections = 0;
  #port = 0;

  private constructor(target: { readonly host: string; readonly port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Starts a proxy on a free loopback port. */
  static async start(target: { readonly host: string; readonly port: number }): Promise<StallProxy> {
    const proxy = new StallProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.#port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  /** Connections still open (their server side is closed together with the client side). */
  get openConnections(): number {
    return this.#clients.size;
  }

  /**
   * Starts recording afresh, with a stall armed when `pattern` is given: the first statement whose
   * leading keywords match it never reaches the server, and its connection goes silent both ways.
   */
  begin(pattern?: RegExp): void {
    this.#stallPattern = pattern;
    this.sent.length = 0;
  }

  /** Stalls no further connection; what was recorded stays. */
  disarm(): void {
    this.#stallPattern = undefined;
  }

  /** Statements sent on stalled connections after the stall began. */
  afterStall(): string[] {
    return this.sent.filter((message) => message.afterStall).map((message) => message.what);
  }

  async close(): Promise<void> {
    for (const client of this.#clients) client.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.#connections += 1;
    const connection = this.#connections;
    const server = new Socket();
    this.#clients.add(client);
    client.on('error', () => {});
    server.on('error', () => {});
    client.on('close', () => {
      server.destroy();
      this.#clients.delete(client);
    });
    let stalled = false;
    // A stalled connection stays silent even if the server gives up on it.
    server.on('close', () => {
      if (!stalled) client.destroy();
    });
    let pending = Buffer.alloc(0);
    let first = true;
    const queued: Buffer[] = [];
    let serverReady = false;
    const forward = (bytes: Buffer) => {
      if (serverReady) server.write(bytes);
      else queued.push(bytes);
    };

    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const message = nextMessage(pending, first);
        if (!message) return;
        pending = pending.subarray(message.length);
        first = false;
        const what = describe(message.bytes, message.typed);
        if (!stalled && this.#stallPattern?.test(what)) {
          stalled = true;
          this.sent.push({ connection, what, afterStall: false });
          continue;
        }
        this.sent.push({ connection, what, afterStall: stalled });
        if (!stalled) forward(message.bytes);
      }
    });
    server.on('data', (chunk: Buffer) => {
      if (!stalled) client.write(chunk);
    });
    server.connect(this.#target.port, this.#target.host, () => {
      serverReady = true;
      for (const bytes of queued.splice(0)) server.write(bytes);
    });
  }
}

/** The next whole message in `buffer`: the first of a connection has no type byte. */
function nextMessage(
  buffer: Buffer,
  first: boolean,
): { bytes: Buffer; length: number; typed: boolean } | undefined {
  const header = first ? 4 : 5;
  if (buffer.length < header) return undefined;
  const length = first ? buffer.readInt32BE(0) : 1 + buffer.readInt32BE(1);
  if (buffer.length < length) return undefined;
  return { bytes: buffer.subarray(0, length), length, typed: !first };
}

function describe(bytes: Buffer, typed: boolean): string {
  if (!typed) return 'startup';
  const type = String.fromCharCode(bytes[0]!);
  const body = bytes.subarray(5);
  switch (type) {
    case 'Q':
      return keywords(body.toString('utf8'));
    case 'P':
      // Parse: a statement name (C string), then the text.
      return keywords(body.subarray(body.indexOf(0) + 1).toString('utf8'));
    case 'p':
      return 'sasl';
    case 'X':
      return 'terminate';
    default:
      return `message ${type}`;
  }
}

/** The leading bare words of a statement (`ROLLBACK TO SAVEPOINT`, `ALTER ROLE`), upper-cased. */
function keywords(text: string): string {
  const match = /^\s*[A-Za-z]+(?:[ \t]+[A-Za-z]+)*/.exec(text);
  if (!match) return '?';
  return match[0].trim().toUpperCase().split(/\s+/).slice(0, 4).join(' ');
}
