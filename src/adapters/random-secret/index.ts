import { type Env, envString } from '../../core/config.ts';
import { SecretShapeError } from '../../core/errors.ts';
import { parseJsonObject } from '../../core/json-object.ts';
import type { RotationTarget } from '../../core/target.ts';

/**
 * Options of {@link randomSecret}.
 *
 * @example
 * ```ts
 * randomSecret({ field: 'apiToken' });
 * ```
 */
export interface RandomSecretOptions {
  /**
   * Rotate this field of a JSON object secret and keep every other field. Unset: the whole
   * SecretString is the random value, and a secret that is a JSON object is refused (rotating it
   * whole would drop its other fields). Default: `RANDOM_SECRET_FIELD` from the environment.
   */
  readonly field?: string;
}

/** A parsed random secret: the whole string, or an object with the rotated field. */
export type RandomSecretValue =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'json'; readonly field: string; readonly object: Readonly<Record<string, unknown>> };

/**
 * Rotates a secret whose value is a random string, or one field of a JSON secret, with no external
 * system: the job of AWS's generic rotation template. Passwords follow the policy of docs/protocol.md#password-policy.
 *
 * @example
 * ```ts
 * // handlers/random-secret.ts
 * export const handler = createRotationHandler(randomSecret());
 * ```
 */
export function randomSecret(options: RandomSecretOptions = {}): RotationTarget<RandomSecretValue> {
  let field = options.field;
  return {
    name: 'random-secret',
    generatesPassword: true,
    init(env: Env) {
      field ??= envString(env, 'RANDOM_SECRET_FIELD');
    },
    parse(raw) {
      if (field === undefined) {
        if (raw.length === 0) throw new SecretShapeError('(value)', 'is empty', 'store any initial string');
        // Replacing a JSON object whole would silently drop its other fields (username, host …).
        if (isJsonObject(raw)) {
          throw new SecretShapeError(
            '(value)',
            'is a JSON object, and RANDOM_SECRET_FIELD is not set, so rotating would replace the whole object with a random string',
            'set RANDOM_SECRET_FIELD to the field to rotate (e.g. RANDOM_SECRET_FIELD=password), or store a plain string',
          );
        }
        return { kind: 'string', value: raw };
      }
      const object = parseJsonObject(
        raw,
        (problem) =>
          new SecretShapeError(
            '(value)',
            `is ${problem}`,
            `RANDOM_SECRET_FIELD is "${field}": store a JSON object with a "${field}" string field`,
          ),
      );
      const current = object[field];
      if (current !== undefined && typeof current !== 'string') {
        throw new SecretShapeError(field, 'must be a string', 'store the value as a JSON string');
      }
      return { kind: 'json', field, object };
    },
    serialize(value) {
      return value.kind === 'string' ? value.value : JSON.stringify(value.object);
    },
    secrets(value) {
      return value.kind === 'string' ? [value.value] : [value.object[value.field] as string | undefined];
    },
    async next(current, ctx) {
      const password = await ctx.newPassword();
      return current.kind === 'string'
        ? { kind: 'string', value: password }
        : { ...current, object: { ...current.object, [current.field]: password } };
    },
    async apply() {
      // Nothing outside Secrets Manager holds this value.
    },
    async verify(pending) {
      const value = pending.kind === 'string' ? pending.value : pending.object[pending.field];
      if (typeof value !== 'string' || value.length === 0) {
        throw new SecretShapeError(
          pending.kind === 'json' ? pending.field : '(value)',
          'is empty in the pending version',
        );
      }
    },
  };
}

function isJsonObject(raw: string): boolean {
  if (!raw.trimStart().startsWith('{')) return false;
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  } catch {
    return false;
  }
}
