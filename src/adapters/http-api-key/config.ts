/**
 * The HTTP API-key adapter's configuration: its types, defaults, and the validation that turns
 * untrusted JSON into a resolved configuration or a {@link ConfigProblem} naming the field.
 */
import { type Env, envString } from '../../core/config.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { MAX_JSON_DEPTH } from '../../core/json-depth.ts';
import { parseJsonObject } from '../../core/json-object.ts';
import { placeholdersIn } from './template.ts';

type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A JSON value, as a request body template. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * How a request proves who it is; every string is a template where `{{key}}` is the key the request
 * authenticates with. `basic` defaults to the key as user name and an empty password; `header`'s
 * `value` defaults to `{{key}}`.
 */
type AuthTemplate =
  | { readonly type: 'bearer' }
  | { readonly type: 'basic'; readonly username?: string; readonly password?: string }
  | { readonly type: 'header'; readonly name: string; readonly value?: string }
  | { readonly type: 'none' };

/**
 * One request to the provider. `path` (starting with `/`) is appended to `baseUrl`; placeholders in
 * the path are URL-encoded, those in headers and body strings inserted as they are. `body` goes as JSON.
 */
interface RequestTemplate {
  readonly method: HttpMethod;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: JsonValue;
  /** Overrides the configuration's `auth` for this request. */
  readonly auth?: AuthTemplate;
}

/**
 * For providers without idempotency keys: list the keys and look for one labelled with the
 * rotation's version id (so the mint request must send it). Pointers are RFC 6901.
 */
interface OrphanCheck {
  readonly request: RequestTemplate;
  /** The array of keys in the list answer (`""`: the answer is the array). */
  readonly itemsPointer: string;
  readonly labelPointer: string;
  readonly idPointer: string;
}

/**
 * The provider makes the new key with a request authenticated by the current key. Exactly one of
 * `idempotencyHeader` and `orphanCheck`, so a retried rotation never mints a second key silently.
 */
interface MintSettings {
  readonly request: RequestTemplate;
  readonly keyPointer: string;
  readonly keyIdPointer: string;
  /** Header carrying the version id as an idempotency key. */
  readonly idempotencyHeader?: string;
  readonly orphanCheck?: OrphanCheck;
  /** An orphaned key: `fail` (default, naming its id) or `revoke` it and mint a fresh one. */
  readonly onOrphan?: 'fail' | 'revoke';
}

/**
 * The adapter makes the key (CSPRNG letters and digits; its id is the version id, `{{newKeyId}}`)
 * and registers it with an idempotent request, typically a `PUT`.
 */
interface GenerateSettings {
  /** 24 to 512, default 40. */
  readonly length?: number;
  readonly prefix?: string;
  readonly register: {
    readonly request: RequestTemplate;
    /** Default 200, 201, 204. */
    readonly successStatus?: readonly number[];
  };
}

/**
 * A request authenticated with the new key must answer a success status; `waitOnStatus` answers
 * mean "not propagated yet" and are retried with back-off for up to `maxWaitMs`.
 */
interface TestSettings {
  readonly request: RequestTemplate;
  /** Default 200. */
  readonly successStatus?: readonly number[];
  /** Defaults: 60000, 500, 5000 ms; 401, 403. */
  readonly propagation?: {
    readonly maxWaitMs?: number;
    readonly initialDelayMs?: number;
    readonly maxDelayMs?: number;
    readonly waitOnStatus?: readonly number[];
  };
}

/**
 * When the old key is revoked: at `finish`, at the `next-rotation` (a grace period), or `never`.
 * `authWith: "revoked"` (only with `finish`) authenticates with the key being revoked, so a 401
 * counts as revoked.
 */
interface RevokeSettings {
  readonly when: 'finish' | 'next-rotation' | 'never';
  readonly request?: RequestTemplate;
  readonly authWith?: 'current' | 'revoked';
  /** Default 200, 202, 204. */
  readonly successStatus?: readonly number[];
  /** "Already gone", so a retried finishSecret succeeds. Default 404, 410. */
  readonly goneStatus?: readonly number[];
}

/**
 * Timeouts and retries of every request (429, 5xx, timeouts and network errors are retried,
 * honouring `Retry-After`). Defaults: 10000 ms, 4 attempts, 200 to 5000 ms apart.
 */
export interface HttpSettings {
  readonly timeoutMs?: number;
  readonly attempts?: number;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * The whole configuration: in the secret's `"rotation"` block, in `HTTP_API_KEY_CONFIG`, or given to
 * `httpApiKey({ config })`. Exactly one of `mint` and `generate`. `baseUrl` is `https://` (plain
 * `http://` only for loopback); `keyField`/`keyIdField` default to `apiKey`/`keyId`.
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
  readonly baseUrl: string;
  /** Default `{ "type": "bearer" }`. */
  readonly auth?: AuthTemplate;
  /** Sent with every request (`{{key}}` and `{{versionId}}` only). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly keyField?: string;
  readonly keyIdField?: string;
  readonly mint?: MintSettings;
  readonly generate?: GenerateSettings;
  readonly test: TestSettings;
  readonly revoke: RevokeSettings;
  readonly http?: HttpSettings;
}

export type ResolvedRequest = ReturnType<typeof requestOf>;

/** A validated configuration with every default filled in. */
export type ResolvedConfig = ReturnType<typeof resolveConfig>;

/** A problem at `path` (e.g. `mint.keyPointer`); callers turn it into a SecretShapeError or ConfigurationError. */
export class ConfigProblem extends Error {
  readonly path: string;
  readonly problem: string;

  constructor(path: string, problem: string) {
    super(`${path || '(configuration)'} ${problem}`);
    this.path = path;
    this.problem = problem;
    this.name = 'ConfigProblem';
  }
}

/** Runs `read`, rethrowing a {@link ConfigProblem} as a ConfigurationError naming `setting` and the field. */
export function readSetting<T>(setting: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigProblem)) throw error;
    throw new ConfigurationError(setting, `field ${error.path || '(root)'} ${error.problem}`);
  }
}

/** The configuration block in environment variable `variable`, if set; `inCode` names a factory also given one in code. */
export function configFromEnv(env: Env, variable: string, inCode: string | undefined): Json | undefined {
  const text = envString(env, variable);
  if (text === undefined) return undefined;
  if (inCode) throw new ConfigurationError(variable, `is set, but ${inCode} was given in code too: keep one`);
  return parseJsonObject(
    text,
    (problem) =>
      new ConfigurationError(
        variable,
        problem.startsWith('nested')
          ? `is ${problem}: no configuration block needs that; flatten the request bodies`
          : `is ${problem}: set it to the configuration block, a JSON object`,
      ),
  );
}

const COMMON = ['key', 'versionId'];
const WITH_CURRENT = [...COMMON, 'currentKey', 'currentKeyId'];
const VARIABLES = {
  auth: { allowed: COMMON, purpose: 'all requests' },
  headers: { allowed: COMMON, purpose: 'headers sent with every request' },
  mint: { allowed: WITH_CURRENT, purpose: 'mint requests' },
  orphanCheck: { allowed: WITH_CURRENT, purpose: 'orphan checks' },
  register: { allowed: [...WITH_CURRENT, 'newKey', 'newKeyId'], purpose: 'register requests' },
  test: { allowed: [...COMMON, 'newKey', 'newKeyId'], purpose: 'test requests' },
  revoke: { allowed: [...COMMON, 'revokedKeyId', 'revokedKey'], purpose: 'revoke requests' },
  revokeWithoutKey: {
    allowed: [...COMMON, 'revokedKeyId'],
    purpose: 'revoke requests with a grace period or onOrphan "revoke" (the old key is not at hand)',
  },
} satisfies Record<string, { allowed: readonly string[]; purpose: string }>;
/** The template variables a kind of request may use (`key` is always the authenticating key), and its name in messages. */
type Variables = (typeof VARIABLES)[keyof typeof VARIABLES];

const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Node sends header characters up to U+00FF as Latin-1 and refuses the others. */
export function hasNonLatin1(text: string): boolean {
  for (const char of text) if (char.codePointAt(0)! > 0xff) return true;
  return false;
}

function headerValue(text: string, path: string, variables: Variables): string {
  if (/[\r\n]/.test(text)) throw new ConfigProblem(path, 'must not contain line breaks');
  if (hasNonLatin1(text)) {
    throw new ConfigProblem(
      path,
      'has a character above U+00FF, which an HTTP header cannot carry; use plain ASCII text',
    );
  }
  return checkPlaceholders(text, path, variables);
}

type Json = Record<string, unknown>;

function headerName(name: string, path: string): string {
  if (!HEADER_NAME.test(name)) throw new ConfigProblem(path, 'is not a valid HTTP header name');
  return name;
}

function join(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

export function isObject(value: unknown): value is Json {
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

export type Reader<T> = (value: unknown, path: string) => T;

/** Reads an object whose every field has a reader, in the table's order; other fields are refused. */
export function fields<R extends Record<string, Reader<unknown>>>(
  value: unknown,
  path: string,
  readers: R,
): { readonly [K in keyof R]: ReturnType<R[K]> } {
  const raw = object(value, path, Object.keys(readers));
  const result: Record<string, unknown> = {};
  for (const [field, read] of Object.entries(readers)) result[field] = read(raw[field], join(path, field));
  return result as { readonly [K in keyof R]: ReturnType<R[K]> };
}

function whole(fallback: number, min: number, max: number): Reader<number> {
  return (value, path) => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new ConfigProblem(path, `must be a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

export function choice<const T extends string>(
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

function statuses(fallback: readonly number[]): Reader<readonly number[]> {
  return (value, path) => {
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
  };
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

function checkPlaceholders(text: string, path: string, { allowed, purpose }: Variables): string {
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
  return text;
}

function headerMap(value: unknown, path: string, variables: Variables): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new ConfigProblem(path, 'must be an object of header names to string values');
  const result: Record<string, string> = {};
  for (const [name, text] of Object.entries(value)) {
    const fieldPath = join(path, name);
    headerName(name, fieldPath);
    if (typeof text !== 'string') throw new ConfigProblem(fieldPath, 'must be a string');
    result[name] = headerValue(text, fieldPath, variables);
  }
  return result;
}

function auth(value: unknown, path: string, variables: Variables): AuthTemplate {
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
      checkPlaceholders(username, join(path, 'username'), variables);
      checkPlaceholders(password, join(path, 'password'), variables);
      return { type, username, password };
    }
    case 'header': {
      object(value, path, ['type', 'name', 'value']);
      const name = headerName(string(value.name, join(path, 'name')), join(path, 'name'));
      const text = string(value.value, join(path, 'value'), { optional: true }) ?? '{{key}}';
      return { type, name, value: headerValue(text, join(path, 'value'), variables) };
    }
  }
}

function checkBody(value: unknown, path: string, variables: Variables, depth = 1, bodyPath = path): void {
  if ((Array.isArray(value) || isObject(value)) && depth > MAX_JSON_DEPTH) {
    // A configuration given in code was never parsed from text, so its depth is checked here.
    throw new ConfigProblem(bodyPath, `nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
  }
  if (typeof value === 'string') {
    checkPlaceholders(value, path, variables);
  } else if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      checkBody(item, `${path}[${index}]`, variables, depth + 1, bodyPath);
    }
  } else if (isObject(value)) {
    for (const [field, item] of Object.entries(value)) {
      checkBody(item, join(path, field), variables, depth + 1, bodyPath);
    }
  } else if (value !== null && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new ConfigProblem(path, 'must be JSON');
  }
}

function requestOf(value: unknown, path: string, defaultAuth: AuthTemplate, variables: Variables) {
  const raw = object(value, path, ['method', 'path', 'headers', 'body', 'auth']);
  const method = choice(raw.method, join(path, 'method'), METHODS);
  const target = string(raw.path, join(path, 'path'));
  if (!target.startsWith('/') || target.startsWith('//')) {
    throw new ConfigProblem(
      join(path, 'path'),
      'must start with a single "/": it is appended to baseUrl (absolute URLs are refused so a key is only ever sent to baseUrl)',
    );
  }
  checkPlaceholders(target, join(path, 'path'), variables);
  const headers = headerMap(raw.headers, join(path, 'headers'), variables);
  if (raw.body !== undefined) {
    if (method === 'GET') throw new ConfigProblem(join(path, 'body'), 'is not allowed on a GET request');
    checkBody(raw.body, join(path, 'body'), variables);
  }
  const requestAuth = raw.auth === undefined ? defaultAuth : auth(raw.auth, join(path, 'auth'), variables);
  return { method, path: target, headers, body: raw.body as JsonValue | undefined, auth: requestAuth };
}

/** Whether a request refers to a template variable anywhere (path, headers, body, auth). */
export function requestUses(request: ResolvedRequest, name: string): boolean {
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

/** Validates a configuration block and fills in every default; throws a {@link ConfigProblem} naming the field. */
export function resolveConfig(value: unknown) {
  const raw = fields(value, '', {
    baseUrl,
    auth: (given, path): AuthTemplate =>
      given === undefined ? { type: 'bearer' } : auth(given, path, VARIABLES.auth),
    headers: (given, path) => headerMap(given, path, VARIABLES.headers),
    keyField: keyName('apiKey'),
    keyIdField: keyName('keyId'),
    mint: (given) => given,
    generate: (given) => given,
    test: (given) => given,
    revoke: revokeSettings,
    http: (given, path) =>
      fields(given ?? {}, path, {
        timeoutMs: whole(10_000, 50, 900_000),
        attempts: whole(4, 1, 20),
        initialDelayMs: whole(200, 1, 60_000),
        maxDelayMs: whole(5_000, 1, 300_000),
      }),
  });
  const { auth: defaultAuth, mint, generate, test, revoke, ...plain } = raw;
  if (plain.keyField === plain.keyIdField) throw new ConfigProblem('keyIdField', 'must differ from keyField');
  const create = createSettings(mint, generate, defaultAuth, revoke.authWith);
  const revokeRequest = revokeRequestOf(revoke, create, defaultAuth);
  return {
    ...plain,
    create,
    test: testSettings(test, defaultAuth),
    revoke: { ...revoke, request: revokeRequest },
  };
}

/** A secret field name for the key or its id. */
function keyName(fallback: string): Reader<string> {
  return (given, path) => {
    const name = string(given, path, { optional: true }) || fallback;
    if (name === 'rotation' || name === 'previousKeyId') {
      throw new ConfigProblem(path, `must not be "${name}", which the adapter uses itself`);
    }
    return name;
  };
}

/** The revocation settings; `request` is still raw, as its variables depend on the create mode. */
function revokeSettings(value: unknown) {
  const revoke = fields(value, 'revoke', {
    when: (when, path) => choice(when, path, ['finish', 'next-rotation', 'never']),
    request: (request) => request,
    authWith: (authWith, path) => choice(authWith, path, ['current', 'revoked'], 'current'),
    successStatus: statuses([200, 202, 204]),
    goneStatus: statuses([404, 410]),
  });
  if (revoke.authWith === 'revoked' && revoke.when !== 'finish') {
    throw new ConfigProblem(
      'revoke.authWith',
      '"revoked" needs revoke.when "finish": with a grace period the old key is no longer at hand when it is revoked',
    );
  }
  return revoke;
}

function createSettings(
  mint: unknown,
  generate: unknown,
  defaultAuth: AuthTemplate,
  authWith: 'current' | 'revoked',
) {
  if ((mint === undefined) === (generate === undefined)) {
    throw new ConfigProblem(
      'mint',
      'or generate must be set, not both: "mint" when the provider makes new keys, "generate" when the adapter makes them and registers them',
    );
  }
  return mint !== undefined
    ? mintSettings(mint, defaultAuth, authWith)
    : generateSettings(generate, defaultAuth);
}

function mintSettings(value: unknown, defaultAuth: AuthTemplate, authWith: 'current' | 'revoked') {
  const mint = fields(value, 'mint', {
    request: (request, path) => requestOf(request, path, defaultAuth, VARIABLES.mint),
    keyPointer: pointer,
    keyIdPointer: pointer,
    idempotencyHeader: (header, path) => {
      const name = string(header, path, { optional: true });
      return name === undefined ? undefined : headerName(name, path);
    },
    orphanCheck: (check, path) =>
      check === undefined
        ? undefined
        : fields(check, path, {
            request: (request, at) => requestOf(request, at, defaultAuth, VARIABLES.orphanCheck),
            itemsPointer: pointer,
            labelPointer: pointer,
            idPointer: pointer,
          }),
    onOrphan: (onOrphan, path) => choice(onOrphan, path, ['fail', 'revoke'], 'fail'),
  });
  if ((mint.idempotencyHeader === undefined) === (mint.orphanCheck === undefined)) {
    throw new ConfigProblem(
      'mint.idempotencyHeader',
      'or mint.orphanCheck must be set, not both: the idempotency header when the provider honours one (the version id is sent in it), otherwise orphanCheck, so that a retried rotation never mints a second key silently',
    );
  }
  if (mint.orphanCheck && !requestUses(mint.request, 'versionId')) {
    throw new ConfigProblem(
      'mint.request',
      "must send {{versionId}} (as the new key's label or name) when mint.orphanCheck is used: that label is how an orphaned key is recognised",
    );
  }
  if (mint.onOrphan === 'revoke' && mint.orphanCheck === undefined) {
    throw new ConfigProblem('mint.onOrphan', 'only applies with mint.orphanCheck');
  }
  if (mint.onOrphan === 'revoke' && authWith === 'revoked') {
    throw new ConfigProblem(
      'mint.onOrphan',
      '"revoke" needs revoke.authWith "current": an orphaned key itself is never at hand',
    );
  }
  return { mode: 'mint' as const, ...mint };
}

function generateSettings(value: unknown, defaultAuth: AuthTemplate) {
  const generate = fields(value, 'generate', {
    length: whole(40, 24, 512),
    prefix: (text, path) => {
      const prefix = string(text, path, { optional: true }) ?? '';
      if (/[\s"\\]/.test(prefix) || prefix.length > 64) {
        throw new ConfigProblem(path, 'must be at most 64 characters without spaces, quotes or backslashes');
      }
      return prefix;
    },
    register: (register, path) =>
      fields(register, path, {
        request: (request, at) => requestOf(request, at, defaultAuth, VARIABLES.register),
        successStatus: statuses([200, 201, 204]),
      }),
  });
  return { mode: 'generate' as const, ...generate };
}

function revokeRequestOf(
  { request: raw, when, authWith }: ReturnType<typeof revokeSettings>,
  create: ReturnType<typeof createSettings>,
  defaultAuth: AuthTemplate,
): ResolvedRequest | undefined {
  const onOrphan = create.mode === 'mint' ? create.onOrphan : 'fail';
  if (raw === undefined) {
    if (when === 'never' && onOrphan !== 'revoke') return undefined;
    throw new ConfigProblem(
      'revoke.request',
      `is required when revoke.when is "${when}"${onOrphan === 'revoke' ? ' or mint.onOrphan is "revoke"' : ''}`,
    );
  }
  // Only a revocation at finish, of a replaced key, has the old key at hand.
  const variables = when === 'finish' && onOrphan === 'fail' ? VARIABLES.revoke : VARIABLES.revokeWithoutKey;
  const request = requestOf(raw, 'revoke.request', defaultAuth, variables);
  if (authWith !== 'revoked' && !['revokedKeyId', 'revokedKey'].some((name) => requestUses(request, name))) {
    throw new ConfigProblem(
      'revoke.request',
      'must name the key to revoke: use {{revokedKeyId}} (or {{revokedKey}}) in its path or body, or set revoke.authWith to "revoked"',
    );
  }
  return request;
}

function testSettings(value: unknown, defaultAuth: AuthTemplate) {
  const { propagation, ...test } = fields(value, 'test', {
    request: (request, path) => requestOf(request, path, defaultAuth, VARIABLES.test),
    successStatus: statuses([200]),
    propagation: (wait, path) =>
      fields(wait ?? {}, path, {
        maxWaitMs: whole(60_000, 0, 900_000),
        initialDelayMs: whole(500, 1, 60_000),
        maxDelayMs: whole(5_000, 1, 300_000),
        waitOnStatus: statuses([401, 403]),
      }),
  });
  return { ...test, ...propagation };
}
