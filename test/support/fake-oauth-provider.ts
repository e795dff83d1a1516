/**
 * A small OAuth provider for tests, on loopback: one confidential client, a token endpoint that
 * checks its credentials, and an admin API for its client secrets that allows two active secrets
 * at most (as several real providers do). Records every call without any secret in it.
 *
 * Routes:
 * - `POST /oauth/token`, form body `grant_type=client_credentials`, client credentials in HTTP
 *   Basic or in the body (`client_id`, `client_secret`) → 200 `{ access_token, token_type,
 *   expires_in }`; 401 `{ error: "invalid_client" }`; 400 `{ error: "unsupported_grant_type" }`.
 * - `POST /admin/clients/:clientId/secrets` `{ label?: string }` (Basic: client id and an active
 *   secret) → 201 `{ id, secret, label }`; 409 when two secrets are already active; with
 *   idempotency enabled, a repeated `Idempotency-Key` answers the first result again.
 * - `GET /admin/clients/:clientId/secrets` → `{ secrets: [{ id, label }] }`, active only.
 * - `DELETE /admin/clients/:clientId/secrets/:id` → 204; 404 when unknown or already revoked.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A client secret as the provider keeps it. */
export interface ClientSecretRecord {
  readonly id: string;
  readonly secret: string;
  readonly label: string;
  revoked: boolean;
}

/** One recorded call: the route, the status, the id of the secret that authenticated it. */
export interface OAuthCall {
  readonly route: 'token' | 'mint' | 'list' | 'revoke' | 'unknown';
  readonly status: number | undefined;
  readonly callerSecretId: string | undefined;
  readonly clientAuth: 'basic' | 'body' | 'none';
  readonly idempotencyKey: string | undefined;
}

/** Options of {@link startOAuthProvider}. */
export interface OAuthProviderOptions {
  readonly clientId?: string;
  /** Honour `Idempotency-Key` on minting. Default false. */
  readonly idempotency?: boolean;
}

/** A running provider. */
export interface OAuthProvider {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly clientId: string;
  /** `/admin/clients/<clientId>/secrets` */
  readonly secretsPath: string;
  /** The secret the client was created with. */
  readonly seed: ClientSecretRecord;
  readonly calls: OAuthCall[];
  /** Every secret ever made, seed first. */
  secrets(): ClientSecretRecord[];
  active(): ClientSecretRecord[];
  find(secret: string): ClientSecretRecord | undefined;
  /** Every access token issued (to scan output for them). */
  tokens(): string[];
  /** Asks the token endpoint for an access token with `secret` (HTTP Basic); answers the status. */
  tokenStatus(secret: string): Promise<number>;
  /** The next `times` mints do their work and then never answer (a lost answer). */
  hangAfterMint(times: number): void;
  close(): Promise<void>;
}

const MAX_ACTIVE = 2;

function send(response: ServerResponse, status: number, body?: unknown): number {
  response.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
  response.end(body === undefined ? undefined : JSON.stringify(body));
  return status;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function basicCredentials(request: IncomingMessage): { id: string; secret: string } | undefined {
  const header = request.headers.authorization;
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/**
 * Starts the provider on a free loopback port.
 *
 * @example
 * ```ts
 * const provider = await startOAuthProvider();
 * provider.find(provider.seed.secret)?.revoked; // false
 * ```
 */
export async function startOAuthProvider(options: OAuthProviderOptions = {}): Promise<OAuthProvider> {
  const clientId = options.clientId ?? 'billing-service';
  const secretsPath = `/admin/clients/${clientId}/secrets`;
  const made: ClientSecretRecord[] = [];
  const issued: string[] = [];
  const calls: OAuthCall[] = [];
  const replies = new Map<string, ClientSecretRecord>();
  let hangs = 0;
  let counter = 0;
  const mint = (label: string): ClientSecretRecord => {
    const record = {
      id: `cs_${++counter}`,
      secret: `ocs_${randomBytes(24).toString('base64url')}`,
      label,
      revoked: false,
    };
    made.push(record);
    return record;
  };
  const seed = mint('initial');
  const activeSecret = (secret: string | undefined) =>
    secret === undefined ? undefined : made.find((record) => record.secret === secret && !record.revoked);

  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const path = (request.url ?? '').split('?')[0] ?? '';
      const basic = basicCredentials(request);
      const record = (call: Omit<OAuthCall, 'clientAuth'> & { clientAuth?: OAuthCall['clientAuth'] }) =>
        calls.push({ clientAuth: basic ? 'basic' : 'none', ...call });
      const idempotencyKey = request.headers['idempotency-key'] as string | undefined;

      if (request.method === 'POST' && path === '/oauth/token') {
        const form = new URLSearchParams(body);
        const fromBody = form.has('client_id')
          ? { id: form.get('client_id') ?? '', secret: form.get('client_secret') ?? '' }
          : undefined;
        const credentials = basic ?? fromBody;
        const caller = credentials?.id === clientId ? activeSecret(credentials.secret) : undefined;
        let status: number;
        if (!caller) status = send(response, 401, { error: 'invalid_client' });
        else if (form.get('grant_type') !== 'client_credentials')
          status = send(response, 400, { error: 'unsupported_grant_type' });
        else {
          const token = `at_${randomBytes(18).toString('base64url')}`;
          issued.push(token);
          status = send(response, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
        }
        record({
          route: 'token',
          status,
          callerSecretId: caller?.id,
          clientAuth: basic ? 'basic' : fromBody ? 'body' : 'none',
          idempotencyKey: undefined,
        });
        return;
      }

      if (!path.startsWith(secretsPath)) {
        record({ route: 'unknown', status: send(response, 404), callerSecretId: undefined, idempotencyKey });
        return;
      }
      const caller = basic?.id === clientId ? activeSecret(basic.secret) : undefined;
      const rest = path.slice(secretsPath.length);
      const route =
        request.method === 'POST' && rest === ''
          ? 'mint'
          : request.method === 'GET' && rest === ''
            ? 'list'
            : request.method === 'DELETE' && /^\/[^/]+$/.test(rest)
              ? 'revoke'
              : 'unknown';
      const done = (status: number | undefined) =>
        record({ route, status, callerSecretId: caller?.id, idempotencyKey });
      if (!caller) return done(send(response, 401, { error: 'invalid_client' }));
      if (route === 'mint') {
        const replay = options.idempotency && idempotencyKey ? replies.get(idempotencyKey) : undefined;
        if (replay)
          return done(send(response, 201, { id: replay.id, secret: replay.secret, label: replay.label }));
        if (made.filter((item) => !item.revoked).length >= MAX_ACTIVE) {
          return done(send(response, 409, { error: `at most ${MAX_ACTIVE} active client secrets` }));
        }
        let label = '';
        try {
          label = String((JSON.parse(body || '{}') as { label?: unknown }).label ?? '');
        } catch {
          return done(send(response, 400, { error: 'invalid JSON' }));
        }
        const created = mint(label);
        if (options.idempotency && idempotencyKey) replies.set(idempotencyKey, created);
        if (hangs > 0) {
          hangs--;
          return done(undefined); // The work is done; the answer never comes.
        }
        return done(send(response, 201, { id: created.id, secret: created.secret, label }));
      }
      if (route === 'list') {
        const secrets = made.filter((item) => !item.revoked).map(({ id, label }) => ({ id, label }));
        return done(send(response, 200, { secrets }));
      }
      if (route === 'revoke') {
        const target = made.find((item) => item.id === decodeURIComponent(rest.slice(1)) && !item.revoked);
        if (!target) return done(send(response, 404, { error: 'no such active secret' }));
        target.revoked = true;
        return done(send(response, 204));
      }
      return done(send(response, 404));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    clientId,
    secretsPath,
    seed,
    calls,
    secrets: () => [...made],
    active: () => made.filter((item) => !item.revoked),
    find: (secret) => made.find((item) => item.secret === secret),
    tokens: () => [...issued],
    tokenStatus: async (secret) => {
      const response = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      });
      await response.arrayBuffer();
      return response.status;
    },
    hangAfterMint: (times) => {
      hangs += times;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
