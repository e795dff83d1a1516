/**
 * node-postgres connections that follow a {@link TlsMode}, one connection at a time: used by the
 * PostgreSQL adapters, `check` and the client's pg pools alike, so that every connection (the
 * first of a fresh pool and the hundredth alike) makes its own TLS decision and none trusts what
 * an earlier one was told.
 */
import { connect as netConnect } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { TLSSocket } from 'node:tls';
import pg from 'pg';
import { certificateNaming } from './connection.ts';
import { plaintextPasswordRefused, type TlsMode, type TlsOutcome } from './tls.ts';

/** What a PostgreSQL connection needs to follow its mode. */
export interface PgTlsPolicy {
  /** The mode this connection follows (after the secret's `ssl` had its say). */
  readonly mode: TlsMode;
  /** The variable or option that set the mode, named in errors (`PG_TLS_MODE`). */
  readonly variable: string;
  /** CA certificates to trust instead of Node's defaults. */
  readonly ca: string | Buffer | Array<string | Buffer> | undefined;
  /** The name checked in the server's certificate instead of the host (CNAME hosts). */
  readonly serverName: string | undefined;
  /** How long the `prefer` mode's question "do you offer TLS?" may take. */
  readonly probeTimeoutMs: number;
  /** Called when a connection goes on without TLS because the server offered none (`prefer`). */
  readonly onPlaintext?: ((server: string) => void) | undefined;
}

// Where a client of pgClientFor keeps how its connection ended up.
const TLS_OUTCOME = Symbol('tlsOutcome');

// The SSLRequest message: length 8, then the request code 1234.5679.
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * Asks a PostgreSQL server, on a connection of its own, whether it offers TLS (the one-byte answer
 * to an SSLRequest), then closes it. Nothing else is sent: no user name, no password.
 */
export function postgresOffersTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const finish = (outcome: boolean | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    // Worded like pg's own connect timeout, so that callers report both alike.
    const timer = setTimeout(
      () => finish(new Error('timeout expired (asking whether the server offers TLS)')),
      timeoutMs,
    );
    socket.once('connect', () => socket.write(SSL_REQUEST));
    socket.once('data', (chunk: Buffer) => {
      const answer = chunk.subarray(0, 1).toString('latin1');
      if (answer === 'S') finish(true);
      else if (answer === 'N') finish(false);
      else finish(new Error('There was an error establishing an SSL connection'));
    });
    socket.once('error', finish);
    socket.once('close', () => finish(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' })));
  });
}

/**
 * The TLS options of a verified connection: the CA bundle, and the certificate checked for
 * `serverName` when set (pg replaces `servername` by the host, so the name is checked here).
 */
export function verifiedPgTls(ca: PgTlsPolicy['ca'], serverName: string | undefined): TlsConnectionOptions {
  return {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    ...(serverName === undefined ? {} : { servername: serverName, ...certificateNaming(serverName) }),
  };
}

/**
 * A pg `Client` that follows `policy`, and a type to read how a connection ended up. Give it to
 * `new pg.Pool({ Client })` or construct it directly.
 *
 * - `verify-full`: TLS with the certificate verified; a server without TLS fails the connection
 *   before anything but the SSLRequest is sent.
 * - `prefer`: each connection first asks the server whether it offers TLS; yes: verified TLS
 *   (a certificate failure never falls back), no: plaintext, reported through `onPlaintext`.
 * - `disable`: plaintext.
 *
 * On a connection without TLS the password is never sent as cleartext or as MD5 (whatever the
 * server asks for, at whatever point); only SCRAM, which proves the password without revealing it,
 * goes ahead.
 */
export function pgClientFor(policy: PgTlsPolicy): typeof pg.Client {
  return class TlsModeClient extends pg.Client {
    #plaintext = false;

    constructor(config?: pg.ClientConfig) {
      const settings: pg.ClientConfig = {
        ...config,
        ssl: policy.mode === 'disable' ? false : verifiedPgTls(policy.ca, policy.serverName),
      };
      // pg-pool hands its settings over with the password hidden (not enumerable): copy it too.
      if (config && 'password' in config) {
        Object.defineProperty(settings, 'password', { value: config.password, enumerable: false });
      }
      super(settings);
      guardPasswordMessages(this, policy);
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: (error: Error | undefined) => void): void;
    override connect(callback?: (error: Error | undefined) => void): Promise<pg.Client> | undefined {
      const ready = policy.mode === 'prefer' ? this.#decideTls() : Promise.resolve();
      if (callback) {
        ready.then(
          () => super.connect(callback as (error: Error) => void),
          (error: Error) => callback(error),
        );
        return undefined;
      }
      return ready.then(() => super.connect());
    }

    get [TLS_OUTCOME](): TlsOutcome {
      if (this.connection.stream instanceof TLSSocket) return 'verified';
      return this.#plaintext ? 'plaintext' : 'disabled';
    }

    async #decideTls(): Promise<void> {
      const host = this.host;
      const port = this.port;
      if (await postgresOffersTls(host, port, policy.probeTimeoutMs)) return;
      // Both pg's Client and its Connection read `ssl` only once connecting starts.
      this.ssl = false;
      (this.connection as unknown as { ssl: unknown }).ssl = false;
      this.#plaintext = true;
      policy.onPlaintext?.(`${host}:${port}`);
    }
  };
}

/**
 * How a connected client of {@link pgClientFor} ended up: `verified`, `plaintext` (`prefer`, the
 * server offered no TLS) or `disabled`.
 */
export function tlsOutcomeOf(client: pg.Client): TlsOutcome {
  const outcome = (client as unknown as { [TLS_OUTCOME]?: TlsOutcome })[TLS_OUTCOME];
  if (outcome !== undefined) return outcome;
  return client.connection.stream instanceof TLSSocket ? 'verified' : 'disabled';
}

/**
 * Makes the connection refuse to send a password message (pg uses it only for the cleartext and
 * MD5 methods) unless it runs over TLS; the connect then fails with an error naming the setting.
 */
function guardPasswordMessages(client: pg.Client, policy: PgTlsPolicy): void {
  const connection = client.connection as unknown as {
    password(value: string): void;
    stream: { destroy(): void };
    emit(event: string, ...args: unknown[]): boolean;
    on(event: string, listener: () => void): void;
  };
  let request = 'a cleartext password';
  connection.on('authenticationMD5Password', () => {
    request = 'an MD5 password hash';
  });
  connection.on('authenticationCleartextPassword', () => {
    request = 'a cleartext password';
  });
  const send = connection.password.bind(connection);
  connection.password = (value: string) => {
    if (connection.stream instanceof TLSSocket) {
      send(value);
      return;
    }
    const refusal = plaintextPasswordRefused(
      `logging in as user "${client.user}" at ${client.host}:${client.port}`,
      request,
      `keep ${policy.variable} at verify-full with TLS on the server; a server without TLS must authenticate with scram-sha-256 (pg_hba.conf and password_encryption)`,
    );
    connection.emit('error', refusal);
    connection.stream.destroy();
  };
}
