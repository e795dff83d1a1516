import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/core/errors.ts';
import {
  CHARACTER_CLASSES,
  DEFAULT_PASSWORD_POLICY,
  generatePassword,
  includedClasses,
  type PasswordPolicy,
  passwordPolicyFromEnv,
  passwordSourceFromEnv,
} from '../../src/core/password.ts';

const POSTGRES_EXCLUDE = ':/@"\'\\';

describe('password policy from the environment (docs/protocol.md#password-policy)', () => {
  it('uses the AWS template defaults with the adapter exclude set', () => {
    expect(passwordPolicyFromEnv({}, POSTGRES_EXCLUDE)).toEqual({
      ...DEFAULT_PASSWORD_POLICY,
      excludeCharacters: POSTGRES_EXCLUDE,
    });
  });

  it('reads every variable', () => {
    const policy = passwordPolicyFromEnv(
      {
        PASSWORD_LENGTH: '48',
        EXCLUDE_CHARACTERS: 'abc',
        EXCLUDE_NUMBERS: 'yes',
        EXCLUDE_PUNCTUATION: '1',
        EXCLUDE_UPPERCASE: 'Y',
        EXCLUDE_LOWERCASE: 'false',
        REQUIRE_EACH_INCLUDED_TYPE: 'no',
      },
      POSTGRES_EXCLUDE,
    );
    expect(policy).toEqual({
      length: 48,
      excludeCharacters: 'abc',
      excludeNumbers: true,
      excludePunctuation: true,
      excludeUppercase: true,
      excludeLowercase: false,
      includeSpace: false,
      requireEachIncludedType: false,
    });
  });

  it.each([
    ['PASSWORD_LENGTH', 'abc'],
    ['PASSWORD_LENGTH', '0'],
    ['PASSWORD_LENGTH', '4097'],
    ['PASSWORD_LENGTH', '12.5'],
    ['EXCLUDE_NUMBERS', 'maybe'],
    ['EXCLUDE_PUNCTUATION', 'on'],
    ['REQUIRE_EACH_INCLUDED_TYPE', 'sometimes'],
  ])('refuses %s=%s with an error naming the variable', (name, value) => {
    const attempt = () => passwordPolicyFromEnv({ [name]: value }, '');
    expect(attempt).toThrow(ConfigurationError);
    expect(attempt).toThrow(new RegExp(`^${name} .*"${value.replace('.', '\\.')}"`));
  });

  it('refuses a policy that leaves no characters', () => {
    const env = {
      EXCLUDE_NUMBERS: 'true',
      EXCLUDE_PUNCTUATION: 'true',
      EXCLUDE_UPPERCASE: 'true',
      EXCLUDE_LOWERCASE: 'true',
    };
    expect(() => passwordPolicyFromEnv(env, '')).toThrow(/leave no character/);
  });

  it('refuses a length too short to hold every required type', () => {
    expect(() => passwordPolicyFromEnv({ PASSWORD_LENGTH: '3' }, '')).toThrow(
      /PASSWORD_LENGTH is 3, too short/,
    );
    expect(
      passwordPolicyFromEnv({ PASSWORD_LENGTH: '3', REQUIRE_EACH_INCLUDED_TYPE: 'false' }, '').length,
    ).toBe(3);
  });

  it('reads the generator source strictly', () => {
    expect(passwordSourceFromEnv({})).toBe('service');
    expect(passwordSourceFromEnv({ PASSWORD_GENERATOR: 'LOCAL' })).toBe('local');
    expect(() => passwordSourceFromEnv({ PASSWORD_GENERATOR: 'dice' })).toThrow(
      /^PASSWORD_GENERATOR must be one of service, local/,
    );
  });
});

describe('local password generator', () => {
  const classOf = (c: string) =>
    Object.entries(CHARACTER_CLASSES).find(([, members]) => members.includes(c))?.[0] ?? 'other';

  it('honours length and the exclude set over many draws', () => {
    const policy: PasswordPolicy = {
      ...DEFAULT_PASSWORD_POLICY,
      length: 40,
      excludeCharacters: POSTGRES_EXCLUDE,
    };
    for (let i = 0; i < 500; i++) {
      const password = generatePassword(policy);
      expect(password).toHaveLength(40);
      for (const c of POSTGRES_EXCLUDE) expect(password).not.toContain(c);
    }
  });

  it('includes one character of each class when required, even at the minimum length', () => {
    const policy: PasswordPolicy = { ...DEFAULT_PASSWORD_POLICY, length: 4 };
    for (let i = 0; i < 500; i++) {
      const classes = new Set([...generatePassword(policy)].map(classOf));
      expect([...classes].sort()).toEqual(['lowercase', 'numbers', 'punctuation', 'uppercase']);
    }
  });

  it('never draws from an excluded class', () => {
    const policy: PasswordPolicy = {
      ...DEFAULT_PASSWORD_POLICY,
      excludePunctuation: true,
      excludeUppercase: true,
    };
    for (let i = 0; i < 200; i++) {
      expect(generatePassword(policy)).toMatch(/^[a-z0-9]{32}$/);
    }
  });

  it('uses a space only when asked', () => {
    const withSpace = { ...DEFAULT_PASSWORD_POLICY, includeSpace: true, length: 8 };
    expect(includedClasses(withSpace)).toContain(' ');
    expect([...Array(200)].some(() => generatePassword(withSpace).includes(' '))).toBe(true);
    expect([...Array(200)].some(() => generatePassword(DEFAULT_PASSWORD_POLICY).includes(' '))).toBe(false);
  });

  it('spreads draws evenly over the alphabet (chi-squared, generous bound)', () => {
    const policy: PasswordPolicy = {
      ...DEFAULT_PASSWORD_POLICY,
      excludePunctuation: true,
      excludeUppercase: true,
      requireEachIncludedType: false,
      length: 100,
    };
    const counts = new Map<string, number>();
    const draws = 400;
    for (let i = 0; i < draws; i++)
      for (const c of generatePassword(policy)) counts.set(c, (counts.get(c) ?? 0) + 1);
    const alphabet = CHARACTER_CLASSES.lowercase + CHARACTER_CLASSES.numbers;
    expect(counts.size).toBe(alphabet.length);
    const expected = (draws * 100) / alphabet.length;
    const chi2 = [...alphabet].reduce((sum, c) => sum + ((counts.get(c) ?? 0) - expected) ** 2 / expected, 0);
    // 35 degrees of freedom: p < 1e-6 lies above ~85. A biased generator lands far beyond it.
    expect(chi2).toBeLessThan(85);
  });

  it('does not put the required characters at fixed positions', () => {
    const policy: PasswordPolicy = { ...DEFAULT_PASSWORD_POLICY, length: 8 };
    const firstClasses = new Set([...Array(300)].map(() => classOf(generatePassword(policy)[0]!)));
    expect(firstClasses.size).toBe(4);
  });
});
