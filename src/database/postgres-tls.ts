/**
 * node-postgres connections following a TlsMode, each connection deciding for itself: none trusts what an
 * earlier one was told.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { TLSSocket } from 'node:tls';
import pg from 'pg';
import { certificateNaming } from './connection.ts';
import { plaintextPasswordRefused, type TlsOutcome, type TlsPolicy } from './tls.ts';

interface PgTlsPolicy extends TlsPolicy {
  readonly serverName: string | undefined;
}

// pg's own message for a server that answers 'N' to the SSLRequest while TLS is required.
export const SERVER_WITHOUT_TLS = 'The server does not support SSL connections';

// A message of its own, so that callers can name it (the libpq CVE-2021-23222 kind of injection).
export const INJECTED_AFTER_TLS_ANSWER = 'The server sent more than its one-byte answer to the TLS request';

const NO_TLS = 0x4e;
const YES_TLS = 0x53;

const TLS_OUTCOME = Symbol('tlsOutcome');

type Listener = (...args: never[]) => void;

interface PgStream {
  once: (event: string | symbol, listener: Listener) => unknown;
  destroy(): void;
}

/** The part of pg's connection this module steers; none of it is in pg's types. */
interface PgConnectionInternals {
  ssl: unknown;
  stream: PgStream;
  attachListeners(stream: PgStream): void;
  emit(event: string, ...args: unknown[]): boolean;
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
      if (policy.mode !== 'disable') this.#readTlsAnswer();
    }

    get [TLS_OUTCOME](): TlsOutcome {
      if (this.connection.stream instanceof TLSSocket) return 'verified';
      return this.#plaintext ? 'plaintext' : 'disabled';
    }

    /**
     * Takes the server's one-byte answer to the SSLRequest before pg does. Under `prefer`, "N" lets the
     * login go on without TLS on the same connection (as libpq does), instead of asking on a second
     * connection first; any byte after an "S" or "N" was sent before TLS, so the connection stops there.
     * Other answers (an old server's error message) are pg's to report.
     */
    #readTlsAnswer(): void {
      const connection = this.connection as unknown as PgConnectionInternals;
      const stream = connection.stream;
      const once = stream.once;
      // pg registers one 'data' listener, once, for exactly this answer; the override then steps aside.
      stream.once = (event, listener) => {
        if (event !== 'data') return once.call(stream, event, listener);
        stream.once = once;
        return once.call(stream, 'data', (answer: Buffer) => {
          if (answer.length > 1 && (answer[0] === NO_TLS || answer[0] === YES_TLS)) {
            stream.destroy();
            connection.emit('error', new Error(INJECTED_AFTER_TLS_ANSWER));
          } else if (answer[0] === NO_TLS && policy.mode === 'prefer') {
            this.#continueWithoutTls(connection);
          } else {
            (listener as (chunk: Buffer) => void)(answer);
          }
        });
      };
    }

    #continueWithoutTls(connection: PgConnectionInternals): void {
      this.ssl = false;
      connection.ssl = false;
      this.#plaintext = true;
      policy.onPlaintext?.(`${this.host}:${this.port}`);
      connection.attachListeners(connection.stream);
      // pg's client sends its startup message on this event, as after a TLS handshake.
      connection.emit('sslconnect');
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
