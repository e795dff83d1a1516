/**
 * The declarative configuration of the HTTP API-key adapter: its types, its defaults, and the
 * validation that turns untrusted JSON (from the secret or the environment) into a resolved
 * configuration, or into an error naming the field path and the fix.
 */
import { ConfigurationError } from '../../core/errors.ts';
import { MAX_JSON_DEPTH } from '../../core/json-depth.ts';
import { placeholdersIn } from './template.ts';

/**
 * HTTP methods a configured request may use.
 *
 * @example
 * ```ts
 * const method: HttpMethod = 'DELETE';
 * ```
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * A JSON value, as a request body template.
 *
 * @example
 * ```ts
 * const body: JsonValue = { name: 'rotated {{versionId}}', scopes: ['read'] };
 * ```
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * How a request proves who it is. Every string is a template; `{{key}}` is the key the request
 * authenticates with (the current key for minting, the new key for testing, and so on).
 *
 * - `bearer`: `Authorization: Bearer {{key}}`.
 * - `basic`: `Authorization: Basic base64(username:password)`; by default the key is the user name
 *   and the password is empty, as several providers expect.
 * - `header`: a custom header, e.g. `{ "type": "header", "name": "X-Api-Key" }`; `value` defaults to `{{key}}`.
 * - `none`: no authentication (a request that carries the key elsewhere, e.g. in its body).
 *
 * @example
 * ```ts
 * const auth: AuthTemplate = { type: 'header', name: 'Authorization', value: 'Token {{key}}' };
 * ```
 */
export type AuthTemplate =
  | { readonly type: 'bearer' }
  | { readonly type: 'basic'; readonly username?: string; readonly password?: string }
  | { readonly type: 'header'; readonly name: string; readonly value?: string }
  | { readonly type: 'none' };

/**
 * One HTTP request to the provider. `path` is appended to `baseUrl` (it must start with `/`);
 * placeholders in the path are URL-encoded, those in headers and string leaves of `body` are
 * inserted as they are. A `body` is sent as JSON.
 *
 * @example
 * ```ts
 * const mint: RequestTemplate = { method: 'POST', path: '/v1/keys', body: { label: 'rotation {{versionId}}' } };
 * ```
 */
export interface RequestTemplate {
  readonly method: HttpMethod;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: JsonValue;
  /** Overrides the configuration's `auth` for this request. */
  readonly auth?: AuthTemplate;
}

/**
 * How the adapter finds a key that an earlier, interrupted attempt of the same rotation minted
 * (for providers without idempotency keys): it lists the keys and looks for one labelled with the
 * rotation's version id, which the mint request must therefore send.
 *
 * @example
 * ```ts
 * const check: OrphanCheck = {
 *   request: { method: 'GET', path: '/v1/keys' },
 *   itemsPointer: '/data', labelPointer: '/name', idPointer: '/id',
 * };
 * ```
 */
export interface OrphanCheck {
  readonly request: RequestTemplate;
  /** JSON pointer to the array of keys in the list response (`""` when the response is the array). */
  readonly itemsPointer: string;
  /** JSON pointer, inside one item, to the label the mint request set. */
  readonly labelPointer: string;
  /** JSON pointer, inside one item, to the key's id. */
  readonly idPointer: string;
}

/**
 * The provider makes the new key: a request authenticated with the current key, whose response
 * holds the key and its id. Exactly one of `idempotencyHeader` and `orphanCheck` is required, so a
 * retried rotation never mints a second key silently.
 *
 * @example
 * ```ts
 * const mint: MintSettings = {
 *   request: { method: 'POST', path: '/v1/keys', body: { name: '{{versionId}}' } },
 *   keyPointer: '/secret', keyIdPointer: '/id', idempotencyHeader: 'Idempotency-Key',
 * };
 * ```
 */
export interface MintSettings {
  readonly request: RequestTemplate;
  /** JSON pointer to the new key in the response. */
  readonly keyPointer: string;
  /** JSON pointer to the new key's id in the response (used to revoke it later). */
  readonly keyIdPointer: string;
  /** Header that carries the version id as an idempotency key, for providers that honour one. */
  readonly idempotencyHeader?: string;
  /** For providers without idempotency keys: how to find a key minted by an interrupted attempt. */
  readonly orphanCheck?: OrphanCheck;
  /**
   * What to do with such an orphaned key: `fail` (default) stops the rotation with an error naming
   * the key's id; `revoke` revokes it (with a warning and the `OrphanedKeyRevoked` metric) and
   * mints a fresh one.
   */
  readonly onOrphan?: 'fail' | 'revoke';
}

/**
 * The adapter makes the new key locally (CSPRNG, letters and digits) and registers it with the
 * provider. Its id is the rotation's version id (`{{newKeyId}}`). Registration must be idempotent
 * at the provider (typically a `PUT`); the adapter first checks whether the key already works.
 *
 * @example
 * ```ts
 * const generate: GenerateSettings = {
 *   length: 48, prefix: 'svc_',
 *   register: { request: { method: 'PUT', path: '/keys/{{newKeyId}}', body: { key: '{{newKey}}' } } },
 * };
 * ```
 */
export interface GenerateSettings {
  /** Characters of randomness, 24 to 512. Default 40. */
  readonly length?: number;
  /** Fixed text put before the random part, e.g. `svc_`. Default none. */
  readonly prefix?: string;
  readonly register: {
    readonly request: RequestTemplate;
    /** Statuses meaning "registered". Default 200, 201, 204. */
    readonly successStatus?: readonly number[];
  };
}

/**
 * How the new key is proven to work: a request authenticated with it, and the statuses that mean
 * success. Statuses in `propagation.waitOnStatus` mean "not propagated yet": the adapter retries
 * with back-off for up to `maxWaitMs` (and never past the invocation's deadline).
 *
 * @example
 * ```ts
 * const test: TestSettings = { request: { method: 'GET', path: '/v1/me' }, successStatus: [200] };
 * ```
 */
export interface TestSettings {
  readonly request: RequestTemplate;
  /** Default 200. */
  readonly successStatus?: readonly number[];
  readonly propagation?: {
    /** Default 60000. */
    readonly maxWaitMs?: number;
    /** Default 500. */
    readonly initialDelayMs?: number;
    /** Default 5000. */
    readonly maxDelayMs?: number;
    /** Default 401, 403. */
    readonly waitOnStatus?: readonly number[];
  };
}

/**
 * How and when the old key is revoked.
 *
 * - `finish`: right after the new key becomes AWSCURRENT.
 * - `next-rotation`: a grace period; the old key keeps working until the next rotation finishes.
 * - `never`: the adapter does not revoke (the provider expires keys itself).
 *
 * @example
 * ```ts
 * const revoke: RevokeSettings = { when: 'finish', request: { method: 'DELETE', path: '/v1/keys/{{revokedKeyId}}' } };
 * ```
 */
export interface RevokeSettings {
  readonly when: 'finish' | 'next-rotation' | 'never';
  /** Required unless `when` is `never` (and `onOrphan` is not `revoke`). */
  readonly request?: RequestTemplate;
  /**
   * Which key authenticates the revocation: `current` (default; the key now AWSCURRENT) or
   * `revoked` (the key being revoked; only with `when: "finish"`). With `revoked`, a 401 answer
   * means the key no longer works, which is the goal, so it counts as revoked.
   */
  readonly authWith?: 'current' | 'revoked';
  /** Statuses meaning "revoked". Default 200, 202, 204. */
  readonly successStatus?: readonly number[];
  /** Statuses meaning "already gone", accepted so that a retried finishSecret succeeds. Default 404, 410. */
  readonly goneStatus?: readonly number[];
}

/**
 * Timeouts and retries of every request. Retries (exponential back-off with jitter, honouring
 * `Retry-After`) happen on 429, 5xx, timeouts and network errors.
 *
 * @example
 * ```ts
 * const http: HttpSettings = { timeoutMs: 5000, attempts: 5 };
 * ```
 */
export interface HttpSettings {
  /** Per request. Default 10000. */
  readonly timeoutMs?: number;
  /** Attempts per request, the first included. Default 4. */
  readonly attempts?: number;
  /** Default 200. */
  readonly initialDelayMs?: number;
  /** Default 5000. */
  readonly maxDelayMs?: number;
}

/**
 * The whole configuration: kept in the secret's JSON under `"rotation"`, or in the function's
 * `HTTP_API_KEY_CONFIG` environment variable, or passed in code to `httpApiKey({ config })`.
 * Exactly one of `mint` and `generate`.
 *
 * @example
 * ```ts
 * const config: HttpApiKeyConfig = {
 *   baseUrl: 'https://api.example.com',
 *   auth: { type: 'bearer' },
 *   mint: {
 *     request: { method: 'POST', path: '/v1/keys', body: { name: 'rotated {{versionId}}' } },
 *     keyPointer: '/key', keyIdPointer: '/id', idempotencyHeader: 'Idempotency-Key',
 *   },
 *   test: { request: { method: 'GET', path: '/v1/me' } },
 *   revoke: { when: 'finish', request: { method: 'DELETE', path: '/v1/keys/{{revokedKeyId}}' } },
 * };
 * ```
 */
export interface HttpApiKeyConfig {
  /** `https://…`; plain `http://` only for loopback hosts. May include a path prefix. */
  readonly baseUrl: string;
  /** Default `{ "type": "bearer" }`. */
  readonly auth?: AuthTemplate;
  /** Headers sent with every request (templates; `{{key}}` and `{{versionId}}` only). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Field of the secret's JSON holding the key. Default `apiKey`. */
  readonly keyField?: string;
  /** Field of the secret's JSON holding the provider's id of the key. Default `keyId`. */
  readonly keyIdField?: string;
  readonly mint?: MintSettings;
  readonly generate?: GenerateSettings;
  readonly test: TestSettings;
  readonly revoke: RevokeSettings;
  readonly http?: HttpSettings;
}

/**
 * A request with its validated parts and its authentication resolved.
 *
 * @example
 * ```ts
 * const request: ResolvedRequest = { method: 'GET', path: '/me', headers: {}, body: undefined, auth: { type: 'bearer' } };
 * ```
 */
export interface ResolvedRequest {
  readonly method: HttpMethod;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: JsonValue | undefined;
  readonly auth: AuthTemplate;
}

/**
 * A validated configuration with every default filled in.
 *
 * @example
 * ```ts
 * const resolved: ResolvedConfig = resolveConfig(JSON.parse(text), 'HTTP_API_KEY_CONFIG');
 * ```
 */
export interface ResolvedConfig {
  readonly baseUrl: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly keyField: string;
  readonly keyIdField: string;
  readonly create:
    | {
        readonly mode: 'mint';
        readonly request: ResolvedRequest;
        readonly keyPointer: string;
        readonly keyIdPointer: string;
        readonly idempotencyHeader: string | undefined;
        readonly orphanCheck:
          | {
              readonly request: ResolvedRequest;
              itemsPointer: string;
              labelPointer: string;
              idPointer: string;
            }
          | undefined;
        readonly onOrphan: 'fail' | 'revoke';
      }
    | {
        readonly mode: 'generate';
        readonly length: number;
        readonly prefix: string;
        readonly register: { readonly request: ResolvedRequest; readonly successStatus: readonly number[] };
      };
  readonly test: {
    readonly request: ResolvedRequest;
    readonly successStatus: readonly number[];
    readonly maxWaitMs: number;
    readonly initialDelayMs: number;
    readonly maxDelayMs: number;
    readonly waitOnStatus: readonly number[];
  };
  readonly revoke: {
    readonly when: 'finish' | 'next-rotation' | 'never';
    readonly request: ResolvedRequest | undefined;
    readonly authWith: 'current' | 'revoked';
    readonly successStatus: readonly number[];
    readonly goneStatus: readonly number[];
  };
  readonly http: {
    readonly timeoutMs: number;
    readonly attempts: number;
    readonly initialDelayMs: number;
    readonly maxDelayMs: number;
  };
}

/**
 * A problem in a configuration, with the path of the field at fault (e.g. `mint.keyPointer`).
 * The adapter turns it into a `SecretShapeError` or a `ConfigurationError` depending on where the
 * configuration came from.
 *
 * @example
 * ```ts
 * try { resolveConfig({}); } catch (error) { if (error instanceof ConfigProblem) console.log(error.path); }
 * ```
 */
export class ConfigProblem extends Error {
  /** Dotted path of the field at fault, relative to the configuration block. */
  readonly path: string;
  /** What is wrong and how to fix it, without the path. */
  readonly problem: string;

  constructor(path: string, problem: string) {
    super(`${path || '(configuration)'} ${problem}`);
    this.path = path;
    this.problem = problem;
    this.name = 'ConfigProblem';
  }
}

/**
 * Rethrows a {@link ConfigProblem} in the configuration that `setting` (an environment variable or
 * option) holds as a `ConfigurationError` naming that setting and the field; any other error as is.
 *
 * @example
 * ```ts
 * try { resolveConfig(JSON.parse(raw)); } catch (error) { asConfigurationError('HTTP_API_KEY_CONFIG', error); }
 * ```
 */
export function asConfigurationError(setting: string, error: unknown): never {
  if (error instanceof ConfigProblem) {
    throw new ConfigurationError(setting, `field ${error.path || '(root)'} ${error.problem}`);
  }
  throw error;
}

/**
 * Template variables each kind of request may use. `key` is always the authenticating key.
 *
 * @example
 * ```ts
 * TEMPLATE_VARIABLES.revoke; // ['key', 'versionId', 'revokedKeyId', 'revokedKey']
 * ```
 */
export const TEMPLATE_VARIABLES = {
  common: ['key', 'versionId'],
  mint: ['key', 'versionId', 'currentKey', 'currentKeyId'],
  register: ['key', 'versionId', 'currentKey', 'currentKeyId', 'newKey', 'newKeyId'],
  test: ['key', 'versionId', 'newKey', 'newKeyId'],
  revoke: ['key', 'versionId', 'revokedKeyId', 'revokedKey'],
  revokeWithoutKey: ['key', 'versionId', 'revokedKeyId'],
} as const;

const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// HTTP header values are bytes: Node sends characters up to U+00FF as Latin-1 and refuses others.

/**
 * Whether `text` has a character above U+00FF, which cannot be sent in an HTTP header.
 *
 * @example
 * ```ts
 * hasNonLatin1('Token {{key}}'); // false
 * hasNonLatin1('Jeton→{{key}}'); // true
 * ```
 */
export function hasNonLatin1(text: string): boolean {
  for (const char of text) if (char.codePointAt(0)! > 0xff) return true;
  return false;
}

function headerValueCheck(text: string, path: string): void {
  if (/[\r\n]/.test(text)) throw new ConfigProblem(path, 'must not contain line breaks');
  if (hasNonLatin1(text)) {
    throw new ConfigProblem(
      path,
      'has a character above U+00FF, which an HTTP header cannot carry; use plain ASCII text',
    );
  }
}
const TOP_LEVEL_FIELDS = [
  'baseUrl',
  'auth',
  'headers',
  'keyField',
  'keyIdField',
  'mint',
  'generate',
  'test',
  'revoke',
  'http',
];

type Json = Record<string, unknown>;

function join(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function object(value: unknown, path: string, allowed: readonly string[]): Json {
  if (!isObject(value)) throw new ConfigProblem(path, 'must be a JSON object');
  for (const field of Object.keys(value)) {
    if (!allowed.includes(field)) {
      throw new ConfigProblem(
        join(path, field),
        `is not a known setting; expected one of ${allowed.join(', ')}`,
      );
    }
  }
  return value;
}

function string(value: unknown, path: string, options: { optional: true }): string | undefined;
function string(value: unknown, path: string, options?: { optional?: false }): string;
function string(value: unknown, path: string, options: { optional?: boolean } = {}): string | undefined {
  if (value === undefined && options.optional) return undefined;
  if (typeof value !== 'string' || (value.length === 0 && !options.optional)) {
    throw new ConfigProblem(path, options.optional ? 'must be a string' : 'is required: a non-empty string');
  }
  return value;
}

function integer(
  value: unknown,
  path: string,
  bounds: { default: number; min: number; max: number },
): number {
  if (value === undefined) return bounds.default;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds.min || value > bounds.max) {
    throw new ConfigProblem(path, `must be a whole number from ${bounds.min} to ${bounds.max}`);
  }
  return value;
}

function choice<const T extends string>(
  value: unknown,
  path: string,
  choices: readonly T[],
  fallback?: T,
): T {
  if (value === undefined && fallback !== undefined) return fallback;
  const found = choices.find((candidate) => candidate === value);
  if (found === undefined)
    throw new ConfigProblem(path, `must be one of ${choices.map((c) => `"${c}"`).join(', ')}`);
  return found;
}

function statuses(value: unknown, path: string, fallback: readonly number[]): readonly number[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigProblem(path, 'must be a non-empty array of HTTP statuses, e.g. [200, 204]');
  }
  value.forEach((status, index) => {
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
      throw new ConfigProblem(`${path}[${index}]`, 'must be an HTTP status from 100 to 599');
    }
  });
  return value as number[];
}

function pointer(value: unknown, path: string): string {
  if (typeof value !== 'string' || (value !== '' && !value.startsWith('/'))) {
    throw new ConfigProblem(
      path,
      'must be a JSON pointer (RFC 6901): "" or a string starting with "/", e.g. "/data/key"',
    );
  }
  return value;
}

function checkPlaceholders(text: string, path: string, allowed: readonly string[], purpose: string): void {
  const names = placeholdersIn(text);
  if (names === undefined) {
    throw new ConfigProblem(
      path,
      'has a malformed placeholder: write {{name}} with a plain word inside, e.g. {{versionId}}',
    );
  }
  for (const name of names) {
    if (!allowed.includes(name)) {
      throw new ConfigProblem(
        path,
        `uses {{${name}}}, which ${purpose} do not have; available: ${allowed.map((a) => `{{${a}}}`).join(', ')}`,
      );
    }
  }
}

function headerMap(
  value: unknown,
  path: string,
  allowed: readonly string[],
  purpose: string,
): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new ConfigProblem(path, 'must be an object of header names to string values');
  const result: Record<string, string> = {};
  for (const [name, headerValue] of Object.entries(value)) {
    const fieldPath = join(path, name);
    if (!HEADER_NAME.test(name)) throw new ConfigProblem(fieldPath, 'is not a valid HTTP header name');
    if (typeof headerValue !== 'string') throw new ConfigProblem(fieldPath, 'must be a string');
    headerValueCheck(headerValue, fieldPath);
    checkPlaceholders(headerValue, fieldPath, allowed, purpose);
    result[name] = headerValue;
  }
  return result;
}

function auth(value: unknown, path: string, allowed: readonly string[], purpose: string): AuthTemplate {
  if (!isObject(value)) throw new ConfigProblem(path, 'must be an object such as { "type": "bearer" }');
  const type = choice(value.type, join(path, 'type'), ['bearer', 'basic', 'header', 'none']);
  switch (type) {
    case 'bearer':
    case 'none':
      object(value, path, ['type']);
      return { type };
    case 'basic': {
      object(value, path, ['type', 'username', 'password']);
      const username = string(value.username, join(path, 'username'), { optional: true }) ?? '{{key}}';
      const password = string(value.password, join(path, 'password'), { optional: true }) ?? '';
      if (username.includes(':')) {
        throw new ConfigProblem(
          join(path, 'username'),
          'must not contain ":" (Basic authentication separates user and password with it)',
        );
      }
      checkPlaceholders(username, join(path, 'username'), allowed, purpose);
      checkPlaceholders(password, join(path, 'password'), allowed, purpose);
      return { type, username, password };
    }
    case 'header': {
      object(value, path, ['type', 'name', 'value']);
      const name = string(value.name, join(path, 'name'));
      if (!HEADER_NAME.test(name))
        throw new ConfigProblem(join(path, 'name'), 'is not a valid HTTP header name');
      const headerValue = string(value.value, join(path, 'value'), { optional: true }) ?? '{{key}}';
      headerValueCheck(headerValue, join(path, 'value'));
      checkPlaceholders(headerValue, join(path, 'value'), allowed, purpose);
      return { type, name, value: headerValue };
    }
  }
}

function checkBody(
  value: unknown,
  path: string,
  allowed: readonly string[],
  purpose: string,
  depth = 1,
  bodyPath = path,
): void {
  if ((Array.isArray(value) || isObject(value)) && depth > MAX_JSON_DEPTH) {
    // A configuration given in code was never parsed from text, so its depth is checked here.
    throw new ConfigProblem(bodyPath, `nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
  }
  if (typeof value === 'string') {
    checkPlaceholders(value, path, allowed, purpose);
  } else if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      checkBody(item, `${path}[${index}]`, allowed, purpose, depth + 1, bodyPath);
    }
  } else if (isObject(value)) {
    for (const [field, item] of Object.entries(value)) {
      checkBody(item, join(path, field), allowed, purpose, depth + 1, bodyPath);
    }
  } else if (value !== null && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new ConfigProblem(path, 'must be JSON');
  }
}

function request(
  value: unknown,
  path: string,
  defaults: { auth: AuthTemplate },
  allowed: readonly string[],
  purpose: string,
): ResolvedRequest {
  const raw = object(value, path, ['method', 'path', 'headers', 'body', 'auth']);
  const method = choice(raw.method, join(path, 'method'), METHODS);
  const target = string(raw.path, join(path, 'path'));
  if (!target.startsWith('/') || target.startsWith('//')) {
    throw new ConfigProblem(
      join(path, 'path'),
      'must start with a single "/": it is appended to baseUrl (absolute URLs are refused so a key is only ever sent to baseUrl)',
    );
  }
  checkPlaceholders(target, join(path, 'path'), allowed, purpose);
  const headers = headerMap(raw.headers, join(path, 'headers'), allowed, purpose);
  if (raw.body !== undefined) {
    if (method === 'GET') throw new ConfigProblem(join(path, 'body'), 'is not allowed on a GET request');
    checkBody(raw.body, join(path, 'body'), allowed, purpose);
  }
  const requestAuth =
    raw.auth === undefined ? defaults.auth : auth(raw.auth, join(path, 'auth'), allowed, purpose);
  return { method, path: target, headers, body: raw.body as JsonValue | undefined, auth: requestAuth };
}

function usesPlaceholder(request: ResolvedRequest, name: string): boolean {
  const texts: string[] = [
    request.path,
    ...Object.values(request.headers),
    JSON.stringify(request.body ?? null),
  ];
  const { auth: requestAuth } = request;
  if (requestAuth.type === 'basic') texts.push(requestAuth.username ?? '', requestAuth.password ?? '');
  if (requestAuth.type === 'header') texts.push(requestAuth.value ?? '');
  return texts.some((text) => new RegExp(`\\{\\{\\s*${name}\\s*\\}\\}`).test(text));
}

/**
 * Whether a resolved request refers to a template variable anywhere (path, headers, body, auth).
 *
 * @example
 * ```ts
 * requestUses(config.revoke.request!, 'revokedKeyId'); // true for DELETE /keys/{{revokedKeyId}}
 * ```
 */
export function requestUses(request: ResolvedRequest, name: string): boolean {
  return usesPlaceholder(request, name);
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function baseUrl(value: unknown, path: string): string {
  const text = string(value, path);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigProblem(path, 'must be an absolute URL such as "https://api.example.com"');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw new ConfigProblem(
      path,
      'must use https:// (plain http:// is accepted only for loopback hosts, as keys would travel in clear text)',
    );
  }
  if (url.username || url.password) throw new ConfigProblem(path, 'must not contain credentials');
  if (url.search || url.hash)
    throw new ConfigProblem(path, 'must not contain a query or fragment; put them in the request paths');
  return text.replace(/\/+$/, '');
}

/**
 * Validates a configuration block and fills in every default. Throws a {@link ConfigProblem}
 * naming the field path at fault.
 *
 * @example
 * ```ts
 * const config = resolveConfig({
 *   baseUrl: 'https://api.example.com',
 *   mint: { request: { method: 'POST', path: '/keys' }, keyPointer: '/key', keyIdPointer: '/id', idempotencyHeader: 'Idempotency-Key' },
 *   test: { request: { method: 'GET', path: '/me' } },
 *   revoke: { when: 'finish', request: { method: 'DELETE', path: '/keys/{{revokedKeyId}}' } },
 * });
 * ```
 */
export function resolveConfig(value: unknown): ResolvedConfig {
  const raw = object(value, '', TOP_LEVEL_FIELDS);
  const base = baseUrl(raw.baseUrl, 'baseUrl');
  const defaultAuth: AuthTemplate =
    raw.auth === undefined
      ? { type: 'bearer' }
      : auth(raw.auth, 'auth', TEMPLATE_VARIABLES.common, 'all requests');
  const defaults = { auth: defaultAuth };
  const headers = headerMap(
    raw.headers,
    'headers',
    TEMPLATE_VARIABLES.common,
    'headers sent with every request',
  );
  const keyField = string(raw.keyField, 'keyField', { optional: true }) || 'apiKey';
  const keyIdField = string(raw.keyIdField, 'keyIdField', { optional: true }) || 'keyId';
  if (keyField === keyIdField) throw new ConfigProblem('keyIdField', 'must differ from keyField');
  for (const [field, name] of [
    ['keyField', keyField],
    ['keyIdField', keyIdField],
  ] as const) {
    if (name === 'rotation' || name === 'previousKeyId') {
      throw new ConfigProblem(field, `must not be "${name}", which the adapter uses itself`);
    }
  }

  const httpRaw = object(raw.http ?? {}, 'http', ['timeoutMs', 'attempts', 'initialDelayMs', 'maxDelayMs']);
  const http = {
    timeoutMs: integer(httpRaw.timeoutMs, 'http.timeoutMs', { default: 10_000, min: 50, max: 900_000 }),
    attempts: integer(httpRaw.attempts, 'http.attempts', { default: 4, min: 1, max: 20 }),
    initialDelayMs: integer(httpRaw.initialDelayMs, 'http.initialDelayMs', {
      default: 200,
      min: 1,
      max: 60_000,
    }),
    maxDelayMs: integer(httpRaw.maxDelayMs, 'http.maxDelayMs', { default: 5_000, min: 1, max: 300_000 }),
  };

  const revokeRaw = object(raw.revoke, 'revoke', [
    'when',
    'request',
    'authWith',
    'successStatus',
    'goneStatus',
  ]);
  const when = choice(revokeRaw.when, 'revoke.when', ['finish', 'next-rotation', 'never']);
  const authWith = choice(revokeRaw.authWith, 'revoke.authWith', ['current', 'revoked'], 'current');
  if (authWith === 'revoked' && when !== 'finish') {
    throw new ConfigProblem(
      'revoke.authWith',
      '"revoked" needs revoke.when "finish": with a grace period the old key is no longer at hand when it is revoked',
    );
  }

  if ((raw.mint === undefined) === (raw.generate === undefined)) {
    throw new ConfigProblem(
      'mint',
      'or generate must be set, not both: "mint" when the provider makes new keys, "generate" when the adapter makes them and registers them',
    );
  }
  let create: ResolvedConfig['create'];
  let onOrphan: 'fail' | 'revoke' = 'fail';
  if (raw.mint !== undefined) {
    const mint = object(raw.mint, 'mint', [
      'request',
      'keyPointer',
      'keyIdPointer',
      'idempotencyHeader',
      'orphanCheck',
      'onOrphan',
    ]);
    const mintRequest = request(
      mint.request,
      'mint.request',
      defaults,
      TEMPLATE_VARIABLES.mint,
      'mint requests',
    );
    const idempotencyHeader = string(mint.idempotencyHeader, 'mint.idempotencyHeader', { optional: true });
    if (idempotencyHeader !== undefined && !HEADER_NAME.test(idempotencyHeader)) {
      throw new ConfigProblem('mint.idempotencyHeader', 'is not a valid HTTP header name');
    }
    if ((idempotencyHeader === undefined) === (mint.orphanCheck === undefined)) {
      throw new ConfigProblem(
        'mint.idempotencyHeader',
        'or mint.orphanCheck must be set, not both: the idempotency header when the provider honours one (the version id is sent in it), otherwise orphanCheck, so that a retried rotation never mints a second key silently',
      );
    }
    let orphanCheck:
      | NonNullable<Extract<ResolvedConfig['create'], { mode: 'mint' }>['orphanCheck']>
      | undefined;
    if (mint.orphanCheck !== undefined) {
      const check = object(mint.orphanCheck, 'mint.orphanCheck', [
        'request',
        'itemsPointer',
        'labelPointer',
        'idPointer',
      ]);
      orphanCheck = {
        request: request(
          check.request,
          'mint.orphanCheck.request',
          defaults,
          TEMPLATE_VARIABLES.mint,
          'orphan checks',
        ),
        itemsPointer: pointer(check.itemsPointer, 'mint.orphanCheck.itemsPointer'),
        labelPointer: pointer(check.labelPointer, 'mint.orphanCheck.labelPointer'),
        idPointer: pointer(check.idPointer, 'mint.orphanCheck.idPointer'),
      };
      if (!usesPlaceholder(mintRequest, 'versionId')) {
        throw new ConfigProblem(
          'mint.request',
          "must send {{versionId}} (as the new key's label or name) when mint.orphanCheck is used: that label is how an orphaned key is recognised",
        );
      }
    }
    onOrphan = choice(mint.onOrphan, 'mint.onOrphan', ['fail', 'revoke'], 'fail');
    if (onOrphan === 'revoke' && orphanCheck === undefined) {
      throw new ConfigProblem('mint.onOrphan', 'only applies with mint.orphanCheck');
    }
    if (onOrphan === 'revoke' && authWith === 'revoked') {
      throw new ConfigProblem(
        'mint.onOrphan',
        '"revoke" needs revoke.authWith "current": an orphaned key itself is never at hand',
      );
    }
    create = {
      mode: 'mint',
      request: mintRequest,
      keyPointer: pointer(mint.keyPointer, 'mint.keyPointer'),
      keyIdPointer: pointer(mint.keyIdPointer, 'mint.keyIdPointer'),
      idempotencyHeader,
      orphanCheck,
      onOrphan,
    };
  } else {
    const generate = object(raw.generate, 'generate', ['length', 'prefix', 'register']);
    const register = object(generate.register, 'generate.register', ['request', 'successStatus']);
    const prefix = string(generate.prefix, 'generate.prefix', { optional: true }) ?? '';
    if (/[\s"\\]/.test(prefix) || prefix.length > 64) {
      throw new ConfigProblem(
        'generate.prefix',
        'must be at most 64 characters without spaces, quotes or backslashes',
      );
    }
    create = {
      mode: 'generate',
      length: integer(generate.length, 'generate.length', { default: 40, min: 24, max: 512 }),
      prefix,
      register: {
        request: request(
          register.request,
          'generate.register.request',
          defaults,
          TEMPLATE_VARIABLES.register,
          'register requests',
        ),
        successStatus: statuses(register.successStatus, 'generate.register.successStatus', [200, 201, 204]),
      },
    };
  }

  let revokeRequest: ResolvedRequest | undefined;
  if (revokeRaw.request !== undefined) {
    const variables =
      when === 'finish' && onOrphan === 'fail'
        ? TEMPLATE_VARIABLES.revoke
        : TEMPLATE_VARIABLES.revokeWithoutKey;
    const purpose =
      when === 'finish' && onOrphan === 'fail'
        ? 'revoke requests'
        : 'revoke requests with a grace period or onOrphan "revoke" (the old key is not at hand)';
    revokeRequest = request(revokeRaw.request, 'revoke.request', defaults, variables, purpose);
    if (
      !usesPlaceholder(revokeRequest, 'revokedKeyId') &&
      !usesPlaceholder(revokeRequest, 'revokedKey') &&
      authWith !== 'revoked'
    ) {
      throw new ConfigProblem(
        'revoke.request',
        'must name the key to revoke: use {{revokedKeyId}} (or {{revokedKey}}) in its path or body, or set revoke.authWith to "revoked"',
      );
    }
  } else if (when !== 'never' || onOrphan === 'revoke') {
    throw new ConfigProblem(
      'revoke.request',
      `is required when revoke.when is "${when}"${onOrphan === 'revoke' ? ' or mint.onOrphan is "revoke"' : ''}`,
    );
  }

  const testRaw = object(raw.test, 'test', ['request', 'successStatus', 'propagation']);
  const propagation = object(testRaw.propagation ?? {}, 'test.propagation', [
    'maxWaitMs',
    'initialDelayMs',
    'maxDelayMs',
    'waitOnStatus',
  ]);
  const test = {
    request: request(testRaw.request, 'test.request', defaults, TEMPLATE_VARIABLES.test, 'test requests'),
    successStatus: statuses(testRaw.successStatus, 'test.successStatus', [200]),
    maxWaitMs: integer(propagation.maxWaitMs, 'test.propagation.maxWaitMs', {
      default: 60_000,
      min: 0,
      max: 900_000,
    }),
    initialDelayMs: integer(propagation.initialDelayMs, 'test.propagation.initialDelayMs', {
      default: 500,
      min: 1,
      max: 60_000,
    }),
    maxDelayMs: integer(propagation.maxDelayMs, 'test.propagation.maxDelayMs', {
      default: 5_000,
      min: 1,
      max: 300_000,
    }),
    waitOnStatus: statuses(propagation.waitOnStatus, 'test.propagation.waitOnStatus', [401, 403]),
  };

  return {
    baseUrl: base,
    headers,
    keyField,
    keyIdField,
    create,
    test,
    revoke: {
      when,
      request: revokeRequest,
      authWith,
      successStatus: statuses(revokeRaw.successStatus, 'revoke.successStatus', [200, 202, 204]),
      goneStatus: statuses(revokeRaw.goneStatus, 'revoke.goneStatus', [404, 410]),
    },
    http,
  };
}
