/**
 * A key-issuing HTTP API for tests, on loopback: it mints, registers, lists and revokes API keys,
 * enforces them (unknown or revoked keys get 401), records every call, and can inject faults
 * (errors, throttling, hangs before or after doing the work) and propagation delays.
 *
 * Routes (all need a valid key, sent as `Authorization: Bearer`, `Authorization: Basic` with the
 * key as user name or password, or `X-Api-Key`):
 * - `POST /keys` `{ "label"?: string }` → 201 `{ id, key, label }`; with idempotency enabled, a
 *   repeated `Idempotency-Key` returns the first answer again without minting.
 * - `PUT /keys/:id` `{ "key": string, "label"?: string }` → registers a client-made key: 201, or
 *   200 when that id already holds that key, 409 when it holds another.
 * - `GET /keys` → `{ keys: [{ id, label, createdAt }] }`, active keys only.
 * - `DELETE /keys/:id` → 204; 404 when unknown or already revoked.
 * - `GET /whoami` → `{ id, label }` of the authenticating key.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The routes, as named in {@link KeyApiCall.route} and {@link KeyApiFault.route}. */
export type KeyApiRoute = 'POST /keys' | 'PUT /keys/:id' | 'GET /keys' | 'DELETE /keys/:id' | 'GET /whoami';

/** One recorded call. Never holds a key: the caller is named by the id of the key it used. */
export interface KeyApiCall {
  readonly route: KeyApiRoute | 'unknown';
  readonly method: string;
  readonly path: string;
  /** The answer's status; `undefined` when the call was made to hang. */
  readonly status: number | undefined;
  /** Id of the key that authenticated the call, `undefined` when none did. */
  readonly callerKeyId: string | undefined;
  /** How the key was sent: bearer, basic, header, or none. */
  readonly authScheme: 'bearer' | 'basic' | 'header' | 'none';
  readonly idempotencyKey: string | undefined;
  /** The fault injected into this call, if any. */
  readonly fault: KeyApiFault['kind'] | undefined;
  /** For `POST /keys` and `PUT /keys/:id` that made a key: its id. */
  readonly createdKeyId: string | undefined;
}

/** A key as the API keeps it. */
export interface KeyRecord {
  readonly id: string;
  readonly key: string;
  readonly label: string;
  readonly origin: 'seed' | 'minted' | 'registered';
  revoked: boolean;
  /** Authenticated uses still refused because the key has "not propagated yet". */
  pendingPropagation: number;
}

/**
 * A fault for the next `times` calls of a route:
 * - `error`: answer `status` (default 500) without doing anything;
 * - `throttle`: answer 429 with `Retry-After: retryAfterSeconds` (default 0);
 * - `hang`: never answer, without doing anything (the client times out);
 * - `hang-after`: do the work (e.g. mint the key), then never answer.
 */
export interface KeyApiFault {
  readonly route: KeyApiRoute;
  readonly kind: 'error' | 'throttle' | 'hang' | 'hang-after';
  readonly times?: number;
  readonly status?: number;
  readonly retryAfterSeconds?: number;
}

/** Options of {@link startKeyApi}. */
export interface KeyApiOptions {
  /** Honour `Idempotency-Key` on `POST /keys`. Default true. */
  readonly idempotency?: boolean;
  /** Each new key is refused (401) on its first N authenticated uses, as if still propagating. Default 0. */
  readonly propagationChecks?: number;
}

/** A running key API. */
export interface KeyApi {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The key the API was seeded with (the secret's first key). */
  readonly seed: KeyRecord;
  /** Every call, in order. */
  readonly calls: readonly KeyApiCall[];
  /** Every key ever made, revoked ones included. */
  keys(): readonly KeyRecord[];
  /** Whether the key would be accepted now (does not count as a use). */
  accepts(key: string): boolean;
  /** The record of a key by its value, if the API knows it. */
  find(key: string): KeyRecord | undefined;
  /** Keys made through `POST /keys` (the same idempotent replay counts once). */
  minted(): readonly KeyRecord[];
  /** Revokes a key directly, as an operator would in the provider's console. */
  revoke(id: string): void;
  /** Arms a fault. */
  inject(fault: KeyApiFault): void;
  /** Changes how many uses a new key needs before it works. */
  setPropagationChecks(count: number): void;
  close(): Promise<void>;
}

function newKey(): string {
  return `tk_${randomBytes(24).toString('base64url')}`;
}

function newId(): string {
  return `key_${randomBytes(6).toString('hex')}`;
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Starts the key API on 127.0.0.1 with one seed key.
 *
 * @example
 * ```ts
 * const api = await startKeyApi({ idempotency: false });
 * api.inject({ route: 'POST /keys', kind: 'error', times: 2 });
 * // … rotate …
 * expect(api.minted()).toHaveLength(1);
 * await api.close();
 * ```
 */
export async function startKeyApi(options: KeyApiOptions = {}): Promise<KeyApi> {
  const idempotency = options.idempotency ?? true;
  let propagationChecks = options.propagationChecks ?? 0;
  const records = new Map<string, KeyRecord>();
  const calls: KeyApiCall[] = [];
  const faults: Array<KeyApiFault & { left: number }> = [];
  const replays = new Map<string, { status: number; body: unknown }>();
  const hanging = new Set<ServerResponse>();

  const seed: KeyRecord = {
    id: newId(),
    key: newKey(),
    label: 'seed',
    origin: 'seed',
    revoked: false,
    pendingPropagation: 0,
  };
  records.set(seed.id, seed);

  const byKey = (key: string) => [...records.values()].find((record) => record.key === key);

  function authenticate(request: IncomingMessage): { scheme: KeyApiCall['authScheme']; record?: KeyRecord } {
    const header = request.headers.authorization;
    const apiKeyHeader = request.headers['x-api-key'];
    let candidates: string[] = [];
    let scheme: KeyApiCall['authScheme'] = 'none';
    if (typeof header === 'string' && header.startsWith('Bearer ')) {
      scheme = 'bearer';
      candidates = [header.slice(7)];
    } else if (typeof header === 'string' && header.startsWith('Basic ')) {
      scheme = 'basic';
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      candidates = colon < 0 ? [decoded] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
    } else if (typeof apiKeyHeader === 'string') {
      scheme = 'header';
      candidates = [apiKeyHeader];
    }
    for (const candidate of candidates) {
      const record = candidate ? byKey(candidate) : undefined;
      if (!record || record.revoked) continue;
      if (record.pendingPropagation > 0) {
        record.pendingPropagation--;
        continue;
      }
      return { scheme, record };
    }
    return { scheme };
  }

  function routeOf(method: string, path: string): { route: KeyApiRoute | 'unknown'; id?: string } {
    if (path === '/keys' && method === 'POST') return { route: 'POST /keys' };
    if (path === '/keys' && method === 'GET') return { route: 'GET /keys' };
    if (path === '/whoami' && method === 'GET') return { route: 'GET /whoami' };
    const match = /^\/keys\/([^/]+)$/.exec(path);
    if (match && method === 'PUT') return { route: 'PUT /keys/:id', id: decodeURIComponent(match[1]!) };
    if (match && method === 'DELETE') return { route: 'DELETE /keys/:id', id: decodeURIComponent(match[1]!) };
    return { route: 'unknown' };
  }

  function takeFault(route: KeyApiRoute | 'unknown'): KeyApiFault | undefined {
    const fault = faults.find((candidate) => candidate.route === route && candidate.left > 0);
    if (fault) fault.left--;
    return fault;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET';
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    const { route, id } = routeOf(method, path);
    const idempotencyKey =
      typeof request.headers['idempotency-key'] === 'string' ? request.headers['idempotency-key'] : undefined;
    const body = await readBody(request);
    const fault = takeFault(route);
    const record = (status: number | undefined, extra: Partial<KeyApiCall> = {}) => {
      calls.push({
        route,
        method,
        path,
        status,
        callerKeyId: caller.record?.id,
        authScheme: caller.scheme,
        idempotencyKey,
        fault: fault?.kind,
        createdKeyId: undefined,
        ...extra,
      });
    };
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      if (fault?.kind === 'hang-after') {
        hanging.add(response);
        return;
      }
      response.writeHead(status, {
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      });
      response.end(payload === undefined ? undefined : JSON.stringify(payload));
    };

    // Faults that stop the call before anything happens (the key is not even checked).
    const caller: ReturnType<typeof authenticate> =
      fault && fault.kind !== 'hang-after' ? { scheme: 'none' } : authenticate(request);
    if (fault?.kind === 'error') {
      record(fault.status ?? 500);
      send(fault.status ?? 500, { error: 'injected failure' });
      return;
    }
    if (fault?.kind === 'throttle') {
      record(429);
      send(429, { error: 'slow down' }, { 'retry-after': String(fault.retryAfterSeconds ?? 0) });
      return;
    }
    if (fault?.kind === 'hang') {
      record(undefined);
      hanging.add(response);
      return;
    }
    const hangs = fault?.kind === 'hang-after';
    const status = (code: number) => (hangs ? undefined : code);

    if (route === 'unknown') {
      record(status(404));
      send(404, { error: 'no such route' });
      return;
    }
    if (!caller.record) {
      record(status(401));
      send(401, { error: 'unknown or revoked key' });
      return;
    }
    if (body === undefined || typeof body !== 'object' || body === null) {
      record(status(400));
      send(400, { error: 'body must be JSON' });
      return;
    }
    const fields = body as Record<string, unknown>;

    switch (route) {
      case 'GET /whoami':
        record(status(200));
        send(200, { id: caller.record.id, label: caller.record.label });
        return;
      case 'GET /keys': {
        const keys = [...records.values()]
          .filter((item) => !item.revoked)
          .map((item) => ({ id: item.id, label: item.label }));
        record(status(200));
        send(200, { keys });
        return;
      }
      case 'POST /keys': {
        if (idempotency && idempotencyKey !== undefined) {
          const replay = replays.get(idempotencyKey);
          if (replay) {
            record(status(replay.status));
            send(replay.status, replay.body);
            return;
          }
        }
        const made: KeyRecord = {
          id: newId(),
          key: newKey(),
          label: typeof fields.label === 'string' ? fields.label : '',
          origin: 'minted',
          revoked: false,
          pendingPropagation: propagationChecks,
        };
        records.set(made.id, made);
        const answer = { id: made.id, key: made.key, label: made.label };
        if (idempotency && idempotencyKey !== undefined)
          replays.set(idempotencyKey, { status: 201, body: answer });
        record(status(201), { createdKeyId: made.id });
        send(201, answer);
        return;
      }
      case 'PUT /keys/:id': {
        const key = fields.key;
        if (typeof key !== 'string' || key.length < 16) {
          record(status(400));
          send(400, { error: 'key must be a string of 16 characters or more' });
          return;
        }
        const existing = records.get(id!);
        if (existing) {
          const same = existing.key === key && !existing.revoked;
          record(status(same ? 200 : 409));
          send(same ? 200 : 409, same ? { id: existing.id } : { error: 'id already used' });
          return;
        }
        if (byKey(key)) {
          record(status(409));
          send(409, { error: 'key already registered' });
          return;
        }
        const made: KeyRecord = {
          id: id!,
          key,
          label: typeof fields.label === 'string' ? fields.label : id!,
          origin: 'registered',
          revoked: false,
          pendingPropagation: propagationChecks,
        };
        records.set(made.id, made);
        record(status(201), { createdKeyId: made.id });
        send(201, { id: made.id });
        return;
      }
      case 'DELETE /keys/:id': {
        const target = records.get(id!);
        if (!target || target.revoked) {
          record(status(404));
          send(404, { error: 'no such active key' });
          return;
        }
        target.revoked = true;
        record(status(204));
        send(204);
        return;
      }
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    seed,
    calls,
    keys: () => [...records.values()],
    accepts: (key) => {
      const found = byKey(key);
      return found !== undefined && !found.revoked && found.pendingPropagation === 0;
    },
    find: byKey,
    minted: () => [...records.values()].filter((item) => item.origin === 'minted'),
    revoke: (id) => {
      const found = records.get(id);
      if (!found) throw new Error(`key api: no key with id ${id}`);
      found.revoked = true;
    },
    inject: (fault) => {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    setPropagationChecks: (count) => {
      propagationChecks = count;
    },
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
