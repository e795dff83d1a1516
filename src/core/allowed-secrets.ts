// ALLOWED_SECRET_IDS and ALLOWED_SECRET_TAG are checked against the DescribeSecret answer the engine
// reads anyway, so a shared function pays no extra call.
import { type Env, envList, envString } from './config.ts';
import { ConfigurationError } from './errors.ts';
import type { SecretDescription } from './stages.ts';

export interface SecretAllowlist {
  readonly ids: readonly string[] | undefined;
  readonly tag: { readonly key: string; readonly value: string } | undefined;
  check(secretId: string, description: SecretDescription): void;
  /** Whether the id alone allows the secret (never with a tag rule): only then are versions read early. */
  allowsBeforeDescribe(secretId: string): boolean;
}

interface IdRule {
  readonly raw: string;
  matches(secretId: string, arn: string | undefined, name: string | undefined): boolean;
}

const ARN_PREFIX = /^arn:[a-z-]+:secretsmanager:/;
// A full secret ARN ends with "-" and six random characters the service adds to the name.
const ARN_SUFFIX = /-[A-Za-z0-9]{6}$/;

/** `*` matches any run of characters, `?` one character, as in IAM resource patterns. */
function wildcard(pattern: string): RegExp {
  const body = pattern
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's');
}

function parseIdRule(raw: string): IdRule {
  if (/\s/.test(raw)) {
    throw new ConfigurationError(
      'ALLOWED_SECRET_IDS',
      `has the entry "${raw}", which contains a space; separate entries with commas`,
    );
  }
  const isArn = raw.startsWith('arn:');
  if (isArn && !ARN_PREFIX.test(raw)) {
    throw new ConfigurationError(
      'ALLOWED_SECRET_IDS',
      `has the entry "${raw}", which is not a Secrets Manager ARN (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>); use a secret's ARN, an ARN pattern with * or ?, or a name`,
    );
  }
  if (raw === '*') {
    throw new ConfigurationError(
      'ALLOWED_SECRET_IDS',
      'is "*", which allows every secret; unset it to allow any secret, or list names, prefixes (prod/*) or ARN patterns',
    );
  }
  if (raw.includes('*') || raw.includes('?')) {
    const pattern = wildcard(raw);
    return {
      raw,
      matches: (_secretId, arn, name) =>
        isArn ? arn !== undefined && pattern.test(arn) : name !== undefined && pattern.test(name),
    };
  }
  return {
    raw,
    matches: (secretId, arn, name) =>
      raw === secretId ||
      raw === arn ||
      raw === name ||
      // A partial ARN (without the random suffix) names the secret as well.
      (isArn && arn !== undefined && ARN_SUFFIX.test(arn) && raw === arn.replace(ARN_SUFFIX, '')),
  };
}

function parseTag(raw: string): { key: string; value: string } {
  const at = raw.indexOf('=');
  const key = at > 0 ? raw.slice(0, at).trim() : '';
  if (at <= 0 || key.length === 0 || key.length > 128) {
    throw new ConfigurationError(
      'ALLOWED_SECRET_TAG',
      `must be key=value (the tag a secret needs to be rotated by this function), e.g. team=payments; got "${raw}"`,
    );
  }
  return { key, value: raw.slice(at + 1).trim() };
}

/** Names, full or partial ARNs, or `*`/`?` patterns of either; `ids` replaces `ALLOWED_SECRET_IDS`. */
export function readSecretAllowlist(env: Env, ids?: readonly string[]): SecretAllowlist {
  const entries = ids ?? envList(env, 'ALLOWED_SECRET_IDS');
  const rules = entries && entries.length > 0 ? entries.map(parseIdRule) : undefined;
  const rawTag = envString(env, 'ALLOWED_SECRET_TAG');
  const tag = rawTag === undefined ? undefined : parseTag(rawTag);
  return {
    ids: rules?.map((rule) => rule.raw),
    tag,
    allowsBeforeDescribe(secretId) {
      if (tag) return false;
      if (!rules) return true;
      const arn = ARN_PREFIX.test(secretId) ? secretId : undefined;
      // A full ARN ends with the service's random suffix; the name is what comes before it.
      const name = arn
        ? ARN_SUFFIX.test(arn)
          ? arn.slice(arn.indexOf(':secret:') + ':secret:'.length).replace(ARN_SUFFIX, '')
          : undefined
        : secretId;
      return rules.some((rule) => rule.matches(secretId, arn, name));
    },
    check(secretId, description) {
      const shown = description.ARN ?? secretId;
      if (rules && !rules.some((rule) => rule.matches(secretId, description.ARN, description.Name))) {
        throw new ConfigurationError(
          'ALLOWED_SECRET_IDS',
          `does not list secret ${shown}; this function is not configured to rotate it (add its ARN, its name, or a matching prefix such as ${suggestPrefix(description.Name)} to rotate it here)`,
        );
      }
      if (
        tag &&
        !(description.Tags ?? []).some((item) => item.Key === tag.key && (item.Value ?? '') === tag.value)
      ) {
        throw new ConfigurationError(
          'ALLOWED_SECRET_TAG',
          `requires the tag ${tag.key}=${tag.value}, which secret ${shown} does not carry; this function is not configured to rotate it (tag the secret, or attach it to another function)`,
        );
      }
    },
  };
}

function suggestPrefix(name: string | undefined): string {
  const slash = name?.indexOf('/') ?? -1;
  return name && slash > 0 ? `${name.slice(0, slash + 1)}*` : 'name/*';
}
