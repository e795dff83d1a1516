import { type Env, envBoolean, envChoice, envInteger } from './config.ts';
import { ConfigurationError } from './errors.ts';
import { nodeCrypto } from './node-crypto.ts';

/** How new passwords are made (docs/protocol.md#password-policy), as GetRandomPassword names it. */
export interface PasswordPolicy {
  readonly length: number;
  readonly excludeCharacters: string;
  readonly excludeNumbers: boolean;
  readonly excludePunctuation: boolean;
  readonly excludeUppercase: boolean;
  readonly excludeLowercase: boolean;
  readonly includeSpace: boolean;
  /** At least one character of every class that is not excluded. */
  readonly requireEachIncludedType: boolean;
}

/** The defaults of AWS's templates, except `excludeCharacters`, which each adapter sets. */
export const DEFAULT_PASSWORD_POLICY: PasswordPolicy = {
  length: 32,
  excludeCharacters: '',
  excludeNumbers: false,
  excludePunctuation: false,
  excludeUppercase: false,
  excludeLowercase: false,
  includeSpace: false,
  requireEachIncludedType: true,
};

export const CHARACTER_CLASSES = {
  lowercase: 'abcdefghijklmnopqrstuvwxyz',
  uppercase: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  numbers: '0123456789',
  punctuation: '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
  space: ' ',
} as const;

export type PasswordSource = 'service' | 'local';

/** The password policy from the environment, with the variable names and defaults of AWS's templates. */
export function passwordPolicyFromEnv(env: Env, defaultExclude: string): PasswordPolicy {
  // EXCLUDE_CHARACTERS is read raw: a space may be a character the user wants excluded.
  const rawExclude = env.EXCLUDE_CHARACTERS;
  const policy: PasswordPolicy = {
    length: envInteger(env, 'PASSWORD_LENGTH', { default: 32, min: 1, max: 4096 }),
    excludeCharacters: rawExclude === undefined || rawExclude === '' ? defaultExclude : rawExclude,
    excludeNumbers: envBoolean(env, 'EXCLUDE_NUMBERS', false),
    excludePunctuation: envBoolean(env, 'EXCLUDE_PUNCTUATION', false),
    excludeUppercase: envBoolean(env, 'EXCLUDE_UPPERCASE', false),
    excludeLowercase: envBoolean(env, 'EXCLUDE_LOWERCASE', false),
    includeSpace: envBoolean(env, 'INCLUDE_SPACE', false),
    requireEachIncludedType: envBoolean(env, 'REQUIRE_EACH_INCLUDED_TYPE', true),
  };
  checkPasswordPolicy(policy, 'environment');
  return policy;
}

export function passwordSourceFromEnv(env: Env): PasswordSource {
  return envChoice(env, 'PASSWORD_GENERATOR', ['service', 'local'], 'service');
}

export function includedClasses(policy: PasswordPolicy): string[] {
  const classes: string[] = [];
  const keep = (chars: string) => [...chars].filter((c) => !policy.excludeCharacters.includes(c)).join('');
  if (!policy.excludeLowercase) classes.push(keep(CHARACTER_CLASSES.lowercase));
  if (!policy.excludeUppercase) classes.push(keep(CHARACTER_CLASSES.uppercase));
  if (!policy.excludeNumbers) classes.push(keep(CHARACTER_CLASSES.numbers));
  if (!policy.excludePunctuation) classes.push(keep(CHARACTER_CLASSES.punctuation));
  if (policy.includeSpace) classes.push(keep(CHARACTER_CLASSES.space));
  return classes.filter((chars) => chars.length > 0);
}

function checkPasswordPolicy(policy: PasswordPolicy, source: 'environment' | 'request'): void {
  const name = (env: string, field: string) => (source === 'environment' ? env : field);
  if (!Number.isInteger(policy.length) || policy.length < 1 || policy.length > 4096) {
    throw new ConfigurationError(
      name('PASSWORD_LENGTH', 'PasswordLength'),
      `must be a whole number from 1 to 4096, got ${policy.length}`,
    );
  }
  const classes = includedClasses(policy);
  if (classes.length === 0) {
    throw new ConfigurationError(
      name('EXCLUDE_CHARACTERS', 'ExcludeCharacters'),
      'and the EXCLUDE_* settings leave no character to use: allow at least one character class',
    );
  }
  if (policy.requireEachIncludedType && classes.length > policy.length) {
    throw new ConfigurationError(
      name('PASSWORD_LENGTH', 'PasswordLength'),
      `is ${policy.length}, too short to hold one character of each of the ${classes.length} included types; raise it or set REQUIRE_EACH_INCLUDED_TYPE=false`,
    );
  }
}

/** A password from Node's CSPRNG, honouring the policy exactly as GetRandomPassword does. */
export function generatePassword(policy: PasswordPolicy): string {
  checkPasswordPolicy(policy, 'request');
  const classes = includedClasses(policy);
  const alphabet = classes.join('');
  const chars: string[] = [];
  if (policy.requireEachIncludedType) {
    for (const members of classes) chars.push(pick(members));
  }
  while (chars.length < policy.length) chars.push(pick(alphabet));
  // Fisher-Yates, so the guaranteed characters do not sit at fixed positions.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = nodeCrypto().randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

function pick(alphabet: string): string {
  return alphabet[nodeCrypto().randomInt(alphabet.length)]!;
}
