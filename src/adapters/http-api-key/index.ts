/**
 * The HTTP API-key adapter: rotates an API key kept in a secret, for any provider with an HTTP API,
 * configured declaratively (no code per provider). See {@link HttpApiKeyConfig} for the
 * configuration block and docs/adapters/http-api-key.md for a complete example.
 */
import { type HostAllowlist, readHostAllowlist } from '../../core/allowed-hosts.ts';
import type { Env } from '../../core/config.ts';
import { ProtocolStateError, SecretShapeError, TargetRefusedError } from '../../core/errors.ts';
import { DEFAULT_PASSWORD_POLICY, generatePassword } from '../../core/password.ts';
import type { KnownVersions, NextContext, RotationTarget, StepContext } from '../../core/target.ts';
import {
  configFromEnv,
  type HttpApiKeyConfig,
  hasNonLatin1,
  type ResolvedConfig,
  readSetting,
  requestUses,
  resolveConfig,
} from './config.ts';
import { type AddressLookup, HTTP_API_KEY_ALLOWED_HOSTS } from './destination.ts';
import { describeKey, type ProviderCall, ProviderClient, refusal, revokeKey, untilAccepted } from './http.ts';
import { type ApiKeySecret, parseApiKeySecret, serializeApiKeySecret } from './secret.ts';
import { readPointer } from './template.ts';

export type { HttpApiKeyConfig } from './config.ts';
export type { ApiKeySecret } from './secret.ts';

const HTTP_API_KEY_CONFIG = 'HTTP_API_KEY_CONFIG';

/**
 * Options of {@link httpApiKey}.
 *
 * @example
 * ```ts
 * const target = httpApiKey({ config: { baseUrl: 'https://api.example.com', mint, test, revoke } });
 * ```
 */
export interface HttpApiKeyOptions {
  /** Default: `HTTP_API_KEY_CONFIG`, else each secret's `"rotation"` block; only one of the three. */
  readonly config?: HttpApiKeyConfig;
  /** Resolves host names before the allowlist check. Default: the system resolver. */
  readonly lookup?: AddressLookup;
}

/**
 * The rotation target for an API key kept in a secret. Create the Lambda handler with
 * `createRotationHandler(httpApiKey())`.
 *
 * What each step does:
 * - createSecret: the new key comes to exist, minted by the provider (a request authenticated with
 *   the current key; sent with the version id as idempotency key, or preceded by an orphan check)
 *   or generated locally;
 * - setSecret: a locally generated key is registered with the provider (a minted key needs nothing);
 * - testSecret: a request authenticated with the new key must answer a success status, waiting
 *   with back-off while the provider propagates it;
 * - finishSecret: the old key is revoked (`revoke.when: "finish"`), or the key from one rotation
 *   earlier is (`"next-rotation"`, a grace period).
 *
 * @example
 * ```ts
 * // handlers/http-api-key.ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { httpApiKey } from 'secrets-rotator/adapters/http-api-key';
 * export const handler = createRotationHandler(httpApiKey());
 * ```
 */
export function httpApiKey(options: HttpApiKeyOptions = {}): RotationTarget<ApiKeySecret> {
  let fixedConfig =
    options.config && readSetting('httpApiKey({ config })', () => resolveConfig(options.config));

  let allowlist: HostAllowlist | undefined;
  const providerFor = (config: ResolvedConfig, ctx: StepContext) =>
    new ProviderClient(config, ctx, { allowlist, baseUrlFromSecret: !fixedConfig, lookup: options.lookup });

  return {
    name: 'http-api-key',

    init(env: Env): void {
      allowlist = readHostAllowlist(env, HTTP_API_KEY_ALLOWED_HOSTS);
      const block = configFromEnv(env, HTTP_API_KEY_CONFIG, options.config && 'httpApiKey({ config })');
      if (block) fixedConfig = readSetting(HTTP_API_KEY_CONFIG, () => resolveConfig(block));
    },

    parse: (raw) => parseApiKeySecret(raw, fixedConfig),
    serialize: serializeApiKeySecret,
    secrets: (value) => [value.key],

    async next(current: ApiKeySecret, ctx: NextContext): Promise<ApiKeySecret> {
      const { config } = current;
      requireIdsFor(current, config);
      const provider = providerFor(config, ctx);
      const { key, keyId } =
        config.create.mode === 'mint'
          ? await mintKey(current, config.create, provider, ctx)
          : generateKey(config.create, ctx);
      return { ...current, key, keyId, previousKeyId: current.keyId };
    },

    async apply(pending: ApiKeySecret, known: KnownVersions<ApiKeySecret>, ctx: StepContext): Promise<void> {
      const { config } = pending;
      if (config.create.mode === 'mint') {
        ctx.logger.info('key was minted by the provider; nothing to register', { keyId: pending.keyId });
        return;
      }
      const provider = providerFor(config, ctx);
      const check = await provider.send(testCall(pending, ctx));
      if (config.test.successStatus.includes(check.status)) {
        ctx.logger.info('new key already works; registration not needed', { keyId: pending.keyId });
        return;
      }
      const current = await known.current();
      const { register } = config.create;
      const response = await provider.send({
        operation: 'register',
        request: register.request,
        variables: { ...currentVariables(current, ctx), newKey: pending.key, newKeyId: pending.keyId },
      });
      if (!register.successStatus.includes(response.status)) {
        throw refusal(
          'register',
          register.request,
          response.status,
          'the provider did not register the new key',
        );
      }
      ctx.metrics.count('ApiKeyRegistered');
      ctx.logger.info('registered new key with the provider', { keyId: pending.keyId });
    },

    async verify(pending: ApiKeySecret, ctx: StepContext): Promise<void> {
      const { test } = pending.config;
      const provider = providerFor(pending.config, ctx);
      const key = describeKey(pending.keyId);
      const checks = await untilAccepted(provider, test, ctx, {
        what: 'new key',
        keyId: pending.keyId,
        operation: 'test',
        check: async () => (await provider.send(testCall(pending, ctx))).status,
        hint: (checks, waitedMs, waiting) =>
          waiting
            ? `the new key ${key} was still refused after ${checks} checks over ${waitedMs} ms; if the provider needs longer to propagate new keys, raise test.propagation.maxWaitMs`
            : `the new key ${key} does not work`,
      });
      ctx.logger.info('new key works', { keyId: pending.keyId, checks });
    },

    async afterPromotion(
      promoted: ApiKeySecret,
      previous: ApiKeySecret | undefined,
      ctx: StepContext,
    ): Promise<void> {
      const { revoke } = promoted.config;
      if (revoke.when === 'never') return;
      if (!previous) {
        ctx.logger.info('no previous version; no key to revoke');
        return;
      }
      const provider = providerFor(promoted.config, ctx);
      if (revoke.when === 'finish') {
        if (previous.key === promoted.key) return;
        await revokeKey(provider, promoted.config, ctx, {
          authKey: revoke.authWith === 'revoked' ? previous.key : promoted.key,
          revokedKeyId: previous.keyId,
          revokedKey: previous.key,
          reason: 'replaced',
        });
        return;
      }
      // Grace period: the key replaced one rotation earlier goes; the one replaced now stays.
      const expired = previous.previousKeyId;
      if (expired === undefined || expired === promoted.keyId || expired === previous.keyId) {
        ctx.logger.info('no key past its grace period; nothing to revoke');
        return;
      }
      await revokeKey(provider, promoted.config, ctx, {
        authKey: promoted.key,
        revokedKeyId: expired,
        reason: 'grace period over',
      });
      ctx.logger.info('previous key stays valid until the next rotation', { keyId: previous.keyId });
    },
  };
}

/** Fails before anything is minted when a later request will need a key id the secret lacks. */
function requireIdsFor(current: ApiKeySecret, config: ResolvedConfig): void {
  if (current.keyId !== undefined) return;
  const needs: string[] = [];
  const revokeRequest = config.revoke.request;
  if (config.revoke.when !== 'never' && revokeRequest && requestUses(revokeRequest, 'revokedKeyId')) {
    needs.push('the revoke request ({{revokedKeyId}}) to revoke the current key later');
  }
  const create = config.create;
  const creating =
    create.mode === 'mint' ? [create.request, create.orphanCheck?.request] : [create.register.request];
  if (creating.some((request) => request && requestUses(request, 'currentKeyId'))) {
    needs.push('a request that uses {{currentKeyId}}');
  }
  if (needs.length > 0) {
    throw new SecretShapeError(
      config.keyIdField,
      `is missing from the current version and is needed by ${needs.join(' and by ')}`,
      `add the provider's id of the current key as "${config.keyIdField}" to the secret, then rotate again`,
    );
  }
}

/** Mint, orphan check and register authenticate with the current key. */
function currentVariables(current: ApiKeySecret, ctx: StepContext) {
  return { key: current.key, currentKey: current.key, currentKeyId: current.keyId, versionId: ctx.versionId };
}

function testCall(pending: ApiKeySecret, ctx: StepContext): ProviderCall {
  return {
    operation: 'test',
    request: pending.config.test.request,
    variables: { key: pending.key, newKey: pending.key, newKeyId: pending.keyId, versionId: ctx.versionId },
  };
}

type Create<Mode> = Extract<ResolvedConfig['create'], { mode: Mode }>;

function generateKey(create: Create<'generate'>, ctx: StepContext): { key: string; keyId: string } {
  const random = generatePassword({
    ...DEFAULT_PASSWORD_POLICY,
    length: create.length,
    excludePunctuation: true,
    requireEachIncludedType: false,
  });
  const key = create.prefix + random;
  ctx.redact(key, random);
  ctx.logger.info('generated new key locally', { keyId: ctx.versionId });
  return { key, keyId: ctx.versionId };
}

function idOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

async function mintKey(
  current: ApiKeySecret,
  create: Create<'mint'>,
  provider: ProviderClient,
  ctx: StepContext,
): Promise<{ key: string; keyId: string }> {
  // A repeated idempotency key is answered with the key minted the first time, so retries are safe.
  const { idempotencyHeader, orphanCheck } = create;
  const response = await provider.send(
    {
      operation: 'mint',
      request: create.request,
      variables: currentVariables(current, ctx),
      extraHeaders: idempotencyHeader ? { [idempotencyHeader]: ctx.versionId } : undefined,
    },
    orphanCheck && (() => handleOrphan(current, orphanCheck, create.onOrphan, provider, ctx)),
  );
  if (!isSuccess(response.status)) {
    const hint =
      response.status === 401
        ? 'the current key was refused; has it been revoked or has it expired?'
        : 'the provider did not mint a key';
    throw refusal('mint', create.request, response.status, hint);
  }
  const key = readPointer(response.json, create.keyPointer);
  const keyId = idOf(readPointer(response.json, create.keyIdPointer));
  if (typeof key === 'string') ctx.redact(key);
  const usableKey = typeof key === 'string' && key.length > 0 && !hasNonLatin1(key);
  if (!usableKey || keyId === undefined) {
    const missing = !usableKey
      ? `no key (a non-empty string of characters up to U+00FF, which HTTP headers can carry) at mint.keyPointer "${create.keyPointer}"`
      : `no key id at mint.keyIdPointer "${create.keyIdPointer}"`;
    ctx.metrics.count('OrphanedKeyDetected');
    throw new TargetRefusedError(
      'rejected',
      `mint request ${create.request.method} ${create.request.path} answered ${response.status} with ${missing}; fix the pointer. The provider may have minted a key${keyId ? ` with id "${keyId}"` : ''} that this rotation cannot use: revoke it at the provider`,
    );
  }
  ctx.metrics.count('ApiKeyMinted');
  ctx.logger.info('minted new key', { keyId, idempotent: idempotencyHeader !== undefined });
  return { key, keyId };
}

/** Without idempotency, a failed attempt may still have minted a key: look for one before each attempt. */
async function handleOrphan(
  current: ApiKeySecret,
  check: NonNullable<Create<'mint'>['orphanCheck']>,
  onOrphan: Create<'mint'>['onOrphan'],
  provider: ProviderClient,
  ctx: StepContext,
): Promise<void> {
  const response = await provider.send({
    operation: 'orphan check',
    request: check.request,
    variables: currentVariables(current, ctx),
  });
  if (!isSuccess(response.status)) {
    throw refusal(
      'orphan check',
      check.request,
      response.status,
      'could not list keys to look for one minted by an interrupted attempt',
    );
  }
  const items = readPointer(response.json, check.itemsPointer);
  if (!Array.isArray(items)) {
    throw new TargetRefusedError(
      'rejected',
      `orphan check request ${check.request.method} ${check.request.path} answered ${response.status} without an array at mint.orphanCheck.itemsPointer "${check.itemsPointer}"`,
    );
  }
  const orphans = items
    .filter((item) => {
      const label = readPointer(item, check.labelPointer);
      return typeof label === 'string' && label.includes(ctx.versionId);
    })
    .map((item) => idOf(readPointer(item, check.idPointer)) ?? '(no id)');
  for (const orphanId of orphans) {
    ctx.metrics.count('OrphanedKeyDetected');
    const found =
      'orphaned key found: an earlier attempt of this rotation minted a key that was never stored';
    if (onOrphan === 'fail' || orphanId === '(no id)') {
      ctx.logger.error(found, { orphanKeyId: orphanId });
      throw new ProtocolStateError(
        `Orphaned API key "${orphanId}": an earlier attempt of rotation ${ctx.versionId} minted it but it was never stored in the secret, and the provider cannot hand it out again. Revoke key "${orphanId}" at the provider, then retry the rotation (or set rotation.mint.onOrphan to "revoke" to let the adapter do it)`,
      );
    }
    ctx.logger.warn(`${found}; revoking it`, { orphanKeyId: orphanId });
    await revokeKey(provider, current.config, ctx, {
      authKey: current.key,
      revokedKeyId: orphanId,
      reason: 'orphaned',
    });
    ctx.metrics.count('OrphanedKeyRevoked');
  }
}

export type { AddressLookup } from './destination.ts';
