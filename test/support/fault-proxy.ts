/**
 * A TCP fault proxy for reliability tests: it sits between the code under test and a real server
 * (PostgreSQL, MariaDB, an HTTP API, the local Secrets Manager endpoint), forwards bytes both ways,
 * and counts I/O points, so that a test can fail exactly the k-th one.
 *
 * An I/O point is one turn of the conversation: everything a client sends on a connection before
 * the server answers (the first bytes of a connection, or the first bytes after the server spoke).
 * Request/response protocols make the sequence of points of a piece of code deterministic whatever
 * the TCP chunking: a PostgreSQL startup message, a SASL response, a query; a MySQL handshake
 * response, a COM_QUERY; an HTTP request.
 *
 * Several proxies can share one {@link IoLedger}, which numbers the points of all of them in
 * arrival order (Secrets Manager calls and database statements of one rotation step, say) and
 * holds the one fault armed for the step. A fault hits its point in one of two positions:
 * - `request`: the point's bytes never reach the server;
 * - `answer`: the server gets them and acts, but its answer never reaches the client (a lost answer);
 * and does one of three things:
 * - `reset`: the connection is reset (the client sees ECONNRESET, the server a closed connection);
 * - `stall`: nothing more flows either way and the connection stays open, so the client's own
 *   timeout must fire (the server side is closed once the client gives up);
 * - `crash`: the process under test is dead from that instant: the ledger's `onCrash` runs (kill
 *   the child process that runs the code) and every connection of every proxy on the ledger is
 *   cut, so not one more byte of that process reaches any server.
 *
 * The proxy never logs or keeps the bytes it forwards; point descriptions hold protocol message
 * types, operation names and SQL keywords only.
 */
import { createServer, type Server, Socket } from 'node:net';

/** Where a fault hits its point: before the server sees the request, or after it answered. */
export type FaultPosition = 'request' | 'answer';

/** What a fault does at its point. */
export type FaultAction = 'reset' | 'stall' | 'crash';

/**
 * One I/O point seen by a proxy on the ledger.
 *
 * @example
 * ```ts
 * ledger.points.map((point) => `${point.index} ${point.description}`); // ['1 sm:DescribeSecret', '2 pg:startup', …]
 * ```
 */
export interface IoPoint {
  /** 1-based, in arrival order across every proxy on the ledger since {@link IoLedger.begin}. */
  readonly index: number;
  /** The proxy's label, e.g. `sm` or `pg`. */
  readonly proxy: string;
  /** `label:what`, e.g. `sm:PutSecretValue`, `pg:query ALTER`, `http:POST /keys`. */
  readonly description: string;
  /** Whether the server answered this point (false for a PostgreSQL Terminate, say). */
  answered: boolean;
}

/**
 * The fault to inject at one point.
 *
 * @example
 * ```ts
 * ledger.begin({ index: 3, position: 'answer', action: 'reset' });
 * ```
 */
export interface PointFault {
  readonly index: number;
  readonly position: FaultPosition;
  readonly action: FaultAction;
  /** For `crash`: kills the process under test; called synchronously when the point is reached. */
  readonly onCrash?: () => void;
}

/**
 * Numbers the I/O points of every proxy attached to it and decides which one fails.
 *
 * @example
 * ```ts
 * const ledger = new IoLedger();
 * const pg = await FaultProxy.start({ label: 'pg', target: { host: db.host, port: db.port }, ledger, describe: describePostgres });
 * ledger.begin({ index: 2, position: 'request', action: 'reset' });
 * await runTheStep();
 * const { points, fired } = ledger.end();
 * ```
 */
export class IoLedger {
  /** The points seen since the last {@link IoLedger.begin}. */
  readonly points: IoPoint[] = [];
  #fault: PointFault | undefined;
  #fired: IoPoint | undefined;
  #crashed = false;
  readonly #proxies = new Set<FaultProxy>();

  /** Starts counting from 1 again, with `fault` armed (or none). */
  begin(fault?: PointFault): void {
    this.points.length = 0;
    this.#fault = fault;
    this.#fired = undefined;
    this.#crashed = false;
  }

  /** Disarms the fault; returns the points seen and the point the fault hit, if it was reached. */
  end(): { points: IoPoint[]; fired: IoPoint | undefined } {
    const result = { points: [...this.points], fired: this.#fired };
    this.#fault = undefined;
    this.#crashed = false;
    return result;
  }

  /** Whether a `crash` fault has fired: every proxy on the ledger drops everything until {@link IoLedger.end}. */
  get crashed(): boolean {
    return this.#crashed;
  }

  /** @internal */
  attach(proxy: FaultProxy): void {
    this.#proxies.add(proxy);
  }

  /** @internal */
  detach(proxy: FaultProxy): void {
    this.#proxies.delete(proxy);
  }

  /** @internal A proxy saw a new point; answers the fault that applies to it, if any. */
  record(proxy: string, what: string): { point: IoPoint; fault: PointFault | undefined } {
    const point: IoPoint = {
      index: this.points.length + 1,
      proxy,
      description: `${proxy}:${what}`,
      answered: false,
    };
    this.points.push(point);
    const fault = this.#fault?.index === point.index ? this.#fault : undefined;
    return { point, fault };
  }

  /** @internal The armed fault reached its point. */
  fire(point: IoPoint, fault: PointFault): void {
    this.#fired = point;
    if (fault.action !== 'crash') return;
    this.#crashed = true;
    fault.onCrash?.();
    for (const proxy of this.#proxies) proxy.severAll();
  }
}

/**
 * Turns the first bytes of a point into a short description (never secret material), or `null`
 * for a goodbye that is no I/O point: a PostgreSQL Terminate or a MySQL COM_QUIT gets no answer,
 * the client ignores its failure, and it races with whatever the client does next, so numbering
 * it would make the sequence of points depend on timing. It is forwarded uncounted.
 */
export type PointDescriber = (chunk: Buffer, firstOnConnection: boolean) => string | null;

/**
 * Options of {@link FaultProxy.start}.
 *
 * @example
 * ```ts
 * const options: FaultProxyOptions = { label: 'sm', target: { host: '127.0.0.1', port: 4566 }, ledger, describe: describeHttp };
 * ```
 */
export interface FaultProxyOptions {
  /** Short name used in point descriptions, e.g. `pg`. */
  readonly label: string;
  /** The real server. */
  readonly target: { readonly host: string; readonly port: number };
  readonly ledger: IoLedger;
  /** Describes a point from its first bytes; default `bytes`. */
  readonly describe?: PointDescriber;
}

/** The state of one proxied connection. */
interface Link {
  readonly client: Socket;
  readonly server: Socket;
  /** Client bytes received before the server connection opened. */
  readonly queued: Buffer[];
  serverReady: boolean;
  /** The server spoke since the current point began: the next client bytes start a new point. */
  serverSpoke: boolean;
  /** The current point, and the fault waiting for its answer. */
  current: IoPoint | undefined;
  answerFault: PointFault | undefined;
  /** Nothing flows any more (stalled, reset or crashed). */
  dead: boolean;
}

/**
 * A loopback TCP proxy to one server that counts I/O points on a shared {@link IoLedger} and
 * injects the ledger's armed fault.
 *
 * @example
 * ```ts
 * const proxy = await FaultProxy.start({ label: 'pg', target: { host: db.host, port: db.port }, ledger });
 * const secret = { ...value, host: proxy.host, port: proxy.port }; // the adapter now talks through it
 * await proxy.close();
 * ```
 */
export class FaultProxy {
  /** Always the IPv4 loopback address. */
  readonly host = '127.0.0.1';
  readonly label: string;
  readonly #server: Server;
  readonly #links = new Set<Link>();
  readonly #options: FaultProxyOptions;
  #port = 0;

  private constructor(options: FaultProxyOptions) {
    this.label = options.label;
    this.#options = options;
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Starts a proxy on a free loopback port. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen({ host: '127.0.0.1', port: 0 }, () => {
        proxy.#server.off('error', reject);
        resolve();
      });
    });
    const address = proxy.#server.address();
    if (address === null || typeof address === 'string') throw new Error('FaultProxy: no TCP address');
    proxy.#port = address.port;
    options.ledger.attach(proxy);
    return proxy;
  }

  /** The port to point the code under test at. */
  get port(): number {
    return this.#port;
  }

  /** `http://127.0.0.1:<port>`, for HTTP targets. */
  get url(): string {
    return `http://${this.host}:${this.#port}`;
  }

  /** Connections open right now. */
  get openConnections(): number {
    return this.#links.size;
  }

  /** Cuts every connection at once, both sides, as if the process on the client side died. */
  severAll(): void {
    for (const link of this.#links) this.#kill(link);
  }

  /** Stops listening and cuts every connection. */
  async close(): Promise<void> {
    this.#options.ledger.detach(this);
    this.severAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const { ledger, target } = this.#options;
    const server = new Socket();
    const link: Link = {
      client,
      server,
      queued: [],
      serverReady: false,
      serverSpoke: true,
      current: undefined,
      answerFault: undefined,
      dead: false,
    };
    this.#links.add(link);
    let firstOnConnection = true;
    client.on('error', () => {});
    server.on('error', () => {});
    if (ledger.crashed) {
      // A dead process opens no connections; anything arriving now is a leftover.
      this.#kill(link);
      return;
    }

    client.on('data', (chunk: Buffer) => {
      if (link.dead) return;
      if (ledger.crashed) {
        this.#kill(link);
        return;
      }
      const what = link.serverSpoke
        ? describeSafely(this.#options.describe ?? describeBytes, chunk, firstOnConnection)
        : null;
      if (what !== null) {
        link.serverSpoke = false;
        firstOnConnection = false;
        const { point, fault } = ledger.record(this.label, what);
        link.current = point;
        link.answerFault = undefined;
        if (fault?.position === 'request') {
          ledger.fire(point, fault);
          this.#apply(link, fault.action);
          return;
        }
        link.answerFault = fault;
      }
      if (link.serverReady) server.write(chunk);
      else link.queued.push(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (link.dead) return;
      if (ledger.crashed) {
        this.#kill(link);
        return;
      }
      if (link.current) link.current.answered = true;
      const fault = link.answerFault;
      if (fault) {
        link.answerFault = undefined;
        if (link.current) ledger.fire(link.current, fault);
        this.#apply(link, fault.action);
        return;
      }
      link.serverSpoke = true;
      client.write(chunk);
    });
    client.on('end', () => {
      if (!link.dead) server.end();
    });
    server.on('end', () => {
      if (!link.dead) client.end();
    });
    client.on('close', () => {
      server.destroy();
      this.#links.delete(link);
    });
    server.on('close', () => {
      if (!link.dead) client.destroy();
    });
    server.connect(target.port, target.host, () => {
      link.serverReady = true;
      if (link.dead) return;
      for (const chunk of link.queued.splice(0)) server.write(chunk);
    });
  }

  #apply(link: Link, action: FaultAction): void {
    if (action === 'reset') {
      this.#kill(link);
    } else if (action === 'stall') {
      // Nothing flows any more; the client's timeout must notice. The server side closes when the
      // client gives up (the 'close' handler), so the server is not held forever.
      link.dead = true;
    }
    // 'crash': the ledger already cut every connection.
  }

  #kill(link: Link): void {
    link.dead = true;
    link.queued.length = 0;
    if (!link.client.destroyed) link.client.resetAndDestroy();
    if (!link.server.destroyed) link.server.destroy();
    this.#links.delete(link);
  }
}

function describeSafely(describe: PointDescriber, chunk: Buffer, first: boolean): string | null {
  try {
    return describe(chunk, first);
  } catch {
    return 'unrecognised';
  }
}

/**
 * The default describer: only the number of bytes.
 *
 * @example
 * ```ts
 * describeBytes(Buffer.from('abc'), true); // 'bytes'
 * ```
 */
export function describeBytes(): string {
  return 'bytes';
}

/** The first SQL keyword of a statement (never literals, which may hold verifiers or hashes). */
function sqlKeyword(text: string): string {
  const match = /^\s*([A-Za-z]+)(?:\s+([A-Za-z]+))?/.exec(text);
  if (!match) return '?';
  const first = match[1]!.toUpperCase();
  const second = match[2]?.toUpperCase();
  // Two words where one says too little: ALTER ROLE, CREATE USER, SET PASSWORD, SHOW GRANTS.
  return second && ['ALTER', 'CREATE', 'DROP', 'SET', 'SHOW', 'GRANT', 'REVOKE'].includes(first)
    ? `${first} ${second}`
    : first;
}

/**
 * Describes a PostgreSQL frontend message: `startup`, `sasl` (password or SASL response),
 * `query SELECT`, `extended SELECT` (Parse/Bind/Execute); `null` for Terminate.
 *
 * @example
 * ```ts
 * describePostgres(Buffer.from('Q\0\0\0\x0dSELECT 1\0', 'binary'), false); // 'query SELECT'
 * ```
 */
export function describePostgres(chunk: Buffer, firstOnConnection: boolean): string | null {
  if (firstOnConnection)
    return chunk.length >= 8 && chunk.readInt32BE(4) === 80877103 ? 'ssl-request' : 'startup';
  const type = String.fromCharCode(chunk[0] ?? 0);
  const body = chunk.subarray(5);
  switch (type) {
    case 'p':
      return 'sasl';
    case 'Q':
      return `query ${sqlKeyword(body.toString('utf8'))}`;
    case 'P': {
      // Parse: statement name (C string), then the query text.
      const nameEnd = body.indexOf(0);
      return `extended ${sqlKeyword(body.subarray(nameEnd + 1).toString('utf8'))}`;
    }
    case 'X':
      return null; // Terminate: a goodbye, not an I/O point
    default:
      return `message ${type}`;
  }
}

/**
 * Describes a MySQL/MariaDB client packet: `handshake`, `auth`, `query SELECT`, `prepare SELECT`,
 * `execute`, or the command number; `null` for COM_QUIT.
 *
 * @example
 * ```ts
 * describeMysql(Buffer.from([1, 0, 0, 0, 0x0e]), false); // 'ping'
 * ```
 */
export function describeMysql(chunk: Buffer, firstOnConnection: boolean): string | null {
  if (firstOnConnection) return 'handshake';
  const sequence = chunk[3] ?? 0;
  // A command starts a new exchange with sequence id 0; anything else continues the login.
  if (sequence !== 0) return 'auth';
  const command = chunk[4];
  const text = () => chunk.subarray(5).toString('utf8');
  switch (command) {
    case 0x01:
      return null; // COM_QUIT: a goodbye, not an I/O point
    case 0x03:
      return `query ${sqlKeyword(text())}`;
    case 0x0e:
      return 'ping';
    case 0x16:
      return `prepare ${sqlKeyword(text())}`;
    case 0x17:
      return 'execute';
    case 0x19:
      return 'close-statement';
    default:
      return `command ${command ?? '?'}`;
  }
}

/**
 * Describes a Redis command by its name (and subcommand for ACL): `AUTH`, `ACL SETUSER`, `PING`
 * (the inline probe); never an argument, which may be a password.
 *
 * @example
 * ```ts
 * describeRedis(Buffer.from('*2\r\n$3\r\nACL\r\n$4\r\nLIST\r\n'), false); // 'command ACL LIST'
 * ```
 */
export function describeRedis(chunk: Buffer): string {
  const text = chunk.toString('latin1', 0, Math.min(chunk.length, 512));
  if (!text.startsWith('*')) return `inline ${/^[A-Za-z]+/.exec(text)?.[0] ?? 'bytes'}`;
  const parts = text.split('\r\n');
  const name = (parts[2] ?? '?').toUpperCase();
  return name === 'ACL' || name === 'CLIENT'
    ? `command ${name} ${(parts[4] ?? '?').toUpperCase()}`
    : `command ${name}`;
}

/**
 * Describes an HTTP request by its method and path, or for the Secrets Manager JSON protocol by
 * its operation (`X-Amz-Target: secretsmanager.<Operation>`).
 *
 * @example
 * ```ts
 * describeHttp(Buffer.from('GET /whoami HTTP/1.1\r\n\r\n'), true); // 'GET /whoami'
 * ```
 */
export function describeHttp(chunk: Buffer): string {
  const head = chunk.toString('latin1', 0, Math.min(chunk.length, 4096));
  const target = /\r\nx-amz-target:\s*secretsmanager\.([A-Za-z]+)/i.exec(head);
  if (target) return target[1]!;
  const line = /^([A-Z]+) (\S+) HTTP\//.exec(head);
  if (!line) return 'bytes';
  const path = line[2]!.split('?')[0]!.replace(/\/key_[0-9a-f]+/g, '/:id');
  return `${line[1]} ${path}`;
}
