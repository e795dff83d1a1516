/**
 * node-postgres connections following a TlsMode, each connection deciding for itself: none trusts what an
 * earlier one was told.
 */
import { connect as netConnect } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { TLSSocket } from 'node:tls';
import pg from 'pg';
import { certificateNaming } from './connection.ts';
import { plaintextPasswordRefused, type TlsOutcome, type TlsPolicy } from './tls.ts';

interface PgTlsPolicy extends TlsPolicy {
  readonly serverName: string | undefined;
  readonly probeTimeoutMs: number;
}

// pg's own message for a server that answers 'N' to the SSLRequest while TLS is required.
export const SERVER_WITHOUT_TLS = 'The server does not support SSL connections';

const TLS_OUTCOME = Symbol('tlsOutcome');

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** On a connection of its own; nothing but the SSLRequest is sent. */
function postgresOffersTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const finish = (outcome: boolean | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    // Worded like pg's own connect timeout, so callers report both alike.
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

/** pg replaces `servername` by the host, so the configured name is checked here. */
function verifiedPgTls(ca: PgTlsPolicy['ca'], serverName: string | undefined): TlsConnectionOptions {
  return {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    ...(serverName === undefined ? {} : { servername: serverName, ...certificateNaming(serverName) }),
  };
}

/** Without TLS a password is never sent as cleartext or MD5, whatever the server asks; only SCRAM is. */
export function pgClientFor(policy: PgTlsPolicy): typeof pg.Client {
  return class TlsModeClient extends pg.Client {
    #plaintext = false;

    constructor(config?: pg.ClientConfig) {
      const settings: pg.ClientConfig = {
        ...config,
        ssl: policy.mode === 'disable' ? false : verifiedPgTls(policy.ca, policy.serverName),
      };
      // pg-pool hands the password over non-enumerable: copy it too.
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
      this.ssl = false;
      (this.connection as unknown as { ssl: unknown }).ssl = false;
      this.#plaintext = true;
      policy.onPlaintext?.(`${host}:${port}`);
    }
  };
}

export function tlsOutcomeOf(client: pg.Client): TlsOutcome {
  const outcome = (client as unknown as { [TLS_OUTCOME]?: TlsOutcome })[TLS_OUTCOME];
  if (outcome !== undefined) return outcome;
  return client.connection.stream instanceof TLSSocket ? 'verified' : 'disabled';
}

/** pg sends a password message only for cleartext and MD5. */
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
