/** The secret's JSON: the key, its id, the id it replaced, the optional `"rotation"` block; other fields carried over. */
import { SecretShapeError } from '../../core/errors.ts';
import { parseJsonObject } from '../../core/json-object.ts';
import { ConfigProblem, hasNonLatin1, type ResolvedConfig, resolveConfig } from './config.ts';

/** Field holding the id of the key this version replaced, used to revoke it one rotation later. */
const PREVIOUS_KEY_ID_FIELD = 'previousKeyId';

const CONFIG_FIELD = 'rotation';

export interface ApiKeySecret {
  readonly key: string;
  /** The provider's id of the key, needed to revoke it; absent in a hand-made first version. */
  readonly keyId: string | undefined;
  readonly previousKeyId: string | undefined;
  readonly config: ResolvedConfig;
  /** Every field as stored, including unknown ones. */
  readonly fields: Readonly<Record<string, unknown>>;
}

function optionalId(fields: Record<string, unknown>, name: string): string | undefined {
  const value = fields[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string')
    throw new SecretShapeError(name, "must be a string (the provider's id of the key)");
  return value;
}

/** `fixedConfig`: the configuration from the environment or code; without it, the secret must hold one. */
export function parseApiKeySecret(raw: string, fixedConfig: ResolvedConfig | undefined): ApiKeySecret {
  const fields = parseJsonObject(
    raw,
    (problem) =>
      new SecretShapeError(
        '(value)',
        `is ${problem}`,
        'store a JSON object holding the key and a "rotation" block',
      ),
  );
  const config = configOf(fields, fixedConfig);
  const key = fields[config.keyField];
  if (typeof key !== 'string' || key.length === 0) {
    throw new SecretShapeError(config.keyField, 'is required: the API key, a non-empty string');
  }
  if (hasNonLatin1(key)) {
    throw new SecretShapeError(
      config.keyField,
      'has a character above U+00FF, which an HTTP header cannot carry',
      'store the key exactly as the provider issued it (API keys are ASCII)',
    );
  }
  return {
    key,
    keyId: optionalId(fields, config.keyIdField),
    previousKeyId: optionalId(fields, PREVIOUS_KEY_ID_FIELD),
    config,
    fields,
  };
}

/** The function's own configuration (environment or code), else the secret's `"rotation"` block. */
function configOf(fields: Record<string, unknown>, fixedConfig: ResolvedConfig | undefined): ResolvedConfig {
  const block = fields[CONFIG_FIELD];
  if (fixedConfig) {
    if (block === undefined) return fixedConfig;
    throw new SecretShapeError(
      CONFIG_FIELD,
      'is set, but this function already has its configuration (HTTP_API_KEY_CONFIG or code)',
      'keep the configuration in one place: remove the "rotation" block from the secret or the configuration from the function',
    );
  }
  if (block === undefined) {
    throw new SecretShapeError(
      CONFIG_FIELD,
      'is missing',
      "add the adapter's configuration block to the secret, or set HTTP_API_KEY_CONFIG on the function",
    );
  }
  try {
    return resolveConfig(block);
  } catch (error) {
    if (!(error instanceof ConfigProblem)) throw error;
    throw new SecretShapeError(error.path ? `${CONFIG_FIELD}.${error.path}` : CONFIG_FIELD, error.problem);
  }
}

/** The JSON stored for a version: every field it was read with, the key fields updated. */
export function serializeApiKeySecret(secret: ApiKeySecret): string {
  const fields: Record<string, unknown> = { ...secret.fields, [secret.config.keyField]: secret.key };
  if (secret.keyId === undefined) delete fields[secret.config.keyIdField];
  else fields[secret.config.keyIdField] = secret.keyId;
  if (secret.previousKeyId === undefined) delete fields[PREVIOUS_KEY_ID_FIELD];
  else fields[PREVIOUS_KEY_ID_FIELD] = secret.previousKeyId;
  return JSON.stringify(fields);
}
