/**
 * OAuth client secrets at a provider with an admin API: the HTTP API-key adapter with a fixed shape,
 * tested by a `client_credentials` token request. Destinations follow `HTTP_API_KEY_ALLOWED_HOSTS`.
 */
import { type HostAllowlist, readHostAllowlist } from '../../core/allowed-hosts.ts';
import type { Env } from '../../core/config.ts';
import { ConfigurationError, SecretShapeError, TargetRefusedError } from '../../core/errors.ts';
import type { KnownVersions, NextContext, RotationTarget, StepContext } from '../../core/target.ts';
import {
  ConfigProblem,
  choice,
  configFromEnv,
  fields,
  type HttpApiKeyConfig,
  type HttpSettings,
  isObject,
  type Reader,
  type ResolvedConfig,
  readSetting,
} from '../http-api-key/config.ts';
import { type AddressLookup, HTTP_API_KEY_ALLOWED_HOSTS } from '../http-api-key/destination.ts';
import { ProviderClient, revokeKey, untilAccepted } from '../http-api-key/http.ts';
import { type ApiKeySecret, httpApiKey } from '../http-api-key/index.ts';

export type { ApiKeySecret } from '../http-api-key/index.ts';

const OAUTH_CLIENT_SECRET_CONFIG = 'OAUTH_CLIENT_SECRET_CONFIG';

/**
 * The configuration of {@link oauthClientSecret}. The admin API is called with the client's own
 * current credentials (HTTP Basic). Paths start with `/`; pointers are RFC 6901.
 *
 * @example
 * ```ts
 * const config: OAuthClientSecretConfig = {
 *   baseUrl: 'https://auth.example.com',
 *   clientId: 'billing-service',
 *   tokenPath: '/oauth2/token',
 *   secretsPath: '/admin/clients/billing-service/secrets',
 *   revoke: 'finish',
 * };
 * ```
 */
export interface OAuthClientSecretConfig {
  /** `https://…` (plain `http://` only for loopback). */
  readonly baseUrl: string;
  readonly clientId: string;
  /** Default `/oauth/token`. */
  readonly tokenPath?: string;
  /** How the token request sends the client's credentials (RFC 6749 §2.3.1). Default `basic`. */
  readonly clientAuth?: 'basic' | 'body';
  readonly scope?: string;
  /** `POST` mints a secret (body `{"label": …}`), `GET` lists them, `DELETE <path>/<id>` revokes one. */
  readonly secretsPath: string;
  /** Default `/secret`. */
  readonly secretPointer?: string;
  /** In the mint answer and in each listed item. Default `/id`. */
  readonly secretIdPointer?: string;
  /** The array of secrets in the list answer. Default `/secrets`. */
  readonly listPointer?: string;
  /** Without it, secrets minted by an interrupted attempt are found in the list and revoked. */
  readonly idempotencyHeader?: string;
  /** `finish` (default), or `next-rotation`: revoked before the next mint, so at most two are active. */
  readonly revoke?: 'finish' | 'next-rotation';
  /** Default `clientSecret`. */
  readonly secretField?: string;
  /** Default `secretId`. */
  readonly secretIdField?: string;
  /** Defaults as the HTTP API-key adapter's. */
  readonly propagation?: {
    readonly maxWaitMs?: number;
    readonly initialDelayMs?: number;
    readonly maxDelayMs?: number;
  };
  readonly http?: HttpSettings;
}

/**
 * Options of {@link oauthClientSecret}.
 *
 * @example
 * ```ts
 * const target = oauthClientSecret({ config });
 * ```
 */
export interface OAuthClientSecretOptions {
  /** Default: `OAUTH_CLIENT_SECRET_CONFIG`. */
  readonly config?: OAuthClientSecretConfig;
  /** Default: the system resolver. */
  readonly lookup?: AddressLookup;
}

/** The HTTP adapter's field paths that have a name of their own here. */
const OUR_NAMES: Record<string, string> = {
  'test.propagation': 'propagation',
  'mint.keyPointer': 'secretPointer',
  'mint.keyIdPointer': 'secretIdPointer',
  'mint.orphanCheck.itemsPointer': 'listPointer',
};

/** Statuses an OAuth token endpoint answers for a client secret it does not (yet) accept. */
const TOKEN_REFUSED = [400, 401];

/** A non-empty string without placeholders (it lands in templates), `fallback` when absent. */
function text(fallback?: string, kind: 'text' | 'path' = 'text'): Reader<string> {
  return (given, name) => {
    const value = given ?? fallback;
    if (typeof value !== 'string' || value.length === 0) {
      throw new ConfigProblem(
        name,
        fallback === undefined ? 'is required: a non-empty string' : 'must be a non-empty string',
      );
    }
    if (value.includes('{{')) throw new ConfigProblem(name, 'must not contain "{{" (no placeholders here)');
    if (kind === 'path' && (!value.startsWith('/') || value.startsWith('//'))) {
      throw new ConfigProblem(name, 'must be a path starting with a single "/", appended to baseUrl');
    }
    return value;
  };
}

function optional<T>(read: Reader<T>): Reader<T | undefined> {
  return (value, name) => (value === undefined ? undefined : read(value, name));
}

function oneOf<const T extends string>(choices: readonly T[]): Reader<T> {
  return (value, name) => choice(value ?? choices[0], name, choices);
}

function jsonObject(value: unknown, name: string): Record<string, unknown> {
  if (!isObject(value)) throw new ConfigProblem(name, 'must be a JSON object');
  return value;
}

/** Validates the block and turns it into the HTTP API-key adapter's configuration. */
function toSettings(value: unknown) {
  const raw = fields(value, '', {
    baseUrl: text(),
    clientId: (value, name) => {
      const clientId = text()(value, name);
      if (clientId.includes(':') || /[^\x21-\x7e]/.test(clientId)) {
        throw new ConfigProblem(
          name,
          'must be printable ASCII without ":" or spaces (HTTP Basic carries it)',
        );
      }
      return clientId;
    },
    tokenPath: text('/oauth/token', 'path'),
    clientAuth: oneOf(['basic', 'body']),
    scope: optional(text()),
    secretsPath: (value, name) => text(undefined, 'path')(value, name).replace(/\/+$/, ''),
    secretPointer: text('/secret'),
    secretIdPointer: text('/id'),
    listPointer: (value) => (typeof value === 'string' ? value : '/secrets'),
    idempotencyHeader: optional(text()),
    revoke: oneOf(['finish', 'next-rotation']),
    secretField: text('clientSecret'),
    secretIdField: text('secretId'),
    propagation: optional(jsonObject),
    http: optional(jsonObject),
  });
  const { clientId, clientAuth, secretsPath, secretIdPointer, idempotencyHeader } = raw;
  const clientBasic = { type: 'basic', username: clientId, password: '{{key}}' } as const;
  const http: HttpApiKeyConfig = {
    baseUrl: raw.baseUrl,
    auth: clientBasic,
    keyField: raw.secretField,
    keyIdField: raw.secretIdField,
    mint: {
      request: { method: 'POST', path: secretsPath, body: { label: 'rotation {{versionId}}' } },
      keyPointer: raw.secretPointer,
      keyIdPointer: secretIdPointer,
      ...(idempotencyHeader
        ? { idempotencyHeader }
        : {
            orphanCheck: {
              request: { method: 'GET', path: secretsPath },
              itemsPointer: raw.listPointer,
              labelPointer: '/label',
              idPointer: secretIdPointer,
            },
            // An orphan is a secret only this rotation made; revoking it keeps within the provider's limit.
            onOrphan: 'revoke' as const,
          }),
    },
    test: {
      request: {
        method: 'POST',
        path: raw.tokenPath,
        auth: clientAuth === 'basic' ? clientBasic : { type: 'none' },
      },
      successStatus: [200],
      propagation: { ...raw.propagation, waitOnStatus: TOKEN_REFUSED },
    },
    revoke: { when: 'finish', request: { method: 'DELETE', path: `${secretsPath}/{{revokedKeyId}}` } },
    ...(raw.http === undefined ? {} : { http: raw.http as HttpSettings }),
  };
  const tokenForm: Record<string, string> = {
    grant_type: 'client_credentials',
    ...(raw.scope === undefined ? {} : { scope: raw.scope }),
    ...(clientAuth === 'body' ? { client_id: clientId, client_secret: '{{key}}' } : {}),
  };
  return { clientId, tokenForm, revoke: raw.revoke, http };
}

/**
 * The rotation target for an OAuth client secret: createSecret has the admin API mint a new secret,
 * testSecret needs an access token for it, finishSecret revokes the old one (`revoke: "finish"`).
 *
 * @example
 * ```ts
 * // handlers/oauth-client-secret.ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { oauthClientSecret } from 'secrets-rotator/adapters/oauth-client-secret';
 * export const handler = createRotationHandler(oauthClientSecret());
 * ```
 */
export function oauthClientSecret(options: OAuthClientSecretOptions = {}): RotationTarget<ApiKeySecret> {
  let active: { settings: ReturnType<typeof toSettings>; inner: RotationTarget<ApiKeySecret> } | undefined;
  let allowlist: HostAllowlist | undefined;

  const build = (value: unknown, setting: string) => {
    const settings = readSetting(setting, () => toSettings(value));
    try {
      active = { settings, inner: httpApiKey({ config: settings.http, lookup: options.lookup }) };
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      // The HTTP adapter names its own entry point and fields; name ours.
      const problem = error.message
        .replace(/^httpApiKey\(\{ config \}\) /, '')
        .replace(
          /field (test\.propagation|mint\.keyPointer|mint\.keyIdPointer|mint\.orphanCheck\.itemsPointer)/,
          (_match, name: string) => `field ${OUR_NAMES[name]}`,
        );
      throw new ConfigurationError(setting, problem);
    }
  };
  if (options.config) build(options.config, 'oauthClientSecret({ config })');

  const ready = () => {
    if (active) return active;
    throw new ConfigurationError(
      OAUTH_CLIENT_SECRET_CONFIG,
      'is not set: set it to the configuration block (a JSON object with baseUrl, clientId, secretsPath)',
    );
  };
  const providerFor = (config: ResolvedConfig, ctx: StepContext) =>
    new ProviderClient(config, ctx, { allowlist, baseUrlFromSecret: false, lookup: options.lookup });

  return {
    name: 'oauth-client-secret',

    init(env: Env): void {
      allowlist = readHostAllowlist(env, HTTP_API_KEY_ALLOWED_HOSTS);
      const block = configFromEnv(
        env,
        OAUTH_CLIENT_SECRET_CONFIG,
        options.config && 'oauthClientSecret({ config })',
      );
      if (block) build(block, OAUTH_CLIENT_SECRET_CONFIG);
      ready().inner.init?.(env);
    },

    parse(raw: string): ApiKeySecret {
      const { settings: active, inner: target } = ready();
      const parsed = target.parse(raw);
      // A function configured for one client must not rotate another client's secret.
      const named = parsed.fields.clientId;
      if (named !== undefined && named !== active.clientId) {
        throw new SecretShapeError(
          'clientId',
          `names client "${String(named)}", but ${OAUTH_CLIENT_SECRET_CONFIG} is for client "${active.clientId}"`,
          'rotate this secret with a function configured for its client, or correct the field',
        );
      }
      return parsed;
    },
    serialize: (value) => ready().inner.serialize(value),
    secrets: (value) => [value.key],

    async next(current: ApiKeySecret, ctx: NextContext): Promise<ApiKeySecret> {
      const { settings, inner } = ready();
      const expired = current.previousKeyId;
      // Grace period over: the secret replaced by the previous rotation goes before a new one is minted.
      if (settings.revoke === 'next-rotation' && expired !== undefined && expired !== current.keyId) {
        await revokeKey(providerFor(current.config, ctx), current.config, ctx, {
          authKey: current.key,
          revokedKeyId: expired,
          reason: 'grace period over',
          noun: 'client secret',
        });
      }
      return inner.next(current, ctx);
    },

    apply: (pending: ApiKeySecret, known: KnownVersions<ApiKeySecret>, ctx: StepContext) =>
      ready().inner.apply(pending, known, ctx),

    async verify(pending: ApiKeySecret, ctx: StepContext): Promise<void> {
      const { tokenForm } = ready().settings;
      const { test } = pending.config;
      const provider = providerFor(pending.config, ctx);
      const checks = await untilAccepted(provider, test, ctx, {
        what: 'new client secret',
        keyId: pending.keyId,
        operation: 'token',
        async check() {
          const response = await provider.send({
            operation: 'token',
            request: test.request,
            variables: { key: pending.key, versionId: ctx.versionId },
            formBody: tokenForm,
          });
          if (response.status !== 200) return response.status;
          const token = (response.json as { access_token?: unknown } | undefined)?.access_token;
          if (typeof token !== 'string' || token.length === 0) {
            throw new TargetRefusedError(
              'rejected',
              `token request POST ${test.request.path} answered 200 without an access_token; is tokenPath the token endpoint?`,
            );
          }
          ctx.redact(token);
          return 200;
        },
        hint: (checks, waitedMs) =>
          `the new client secret ${pending.keyId ?? '(no id)'} got no access token after ${checks} checks over ${waitedMs} ms`,
      });
      ctx.logger.info('new client secret obtained an access token', { keyId: pending.keyId, checks });
    },

    async afterPromotion(promoted: ApiKeySecret, previous: ApiKeySecret | undefined, ctx: StepContext) {
      const { settings, inner } = ready();
      if (settings.revoke === 'finish') return inner.afterPromotion?.(promoted, previous, ctx);
      ctx.logger.info('previous client secret stays valid until the next rotation', {
        keyId: previous?.keyId,
      });
    },
  };
}

export type { AddressLookup } from '../http-api-key/destination.ts';
