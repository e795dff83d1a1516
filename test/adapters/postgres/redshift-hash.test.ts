import { describe, expect, it } from 'vitest';
import { POSTGRES_EXCLUDE_CHARACTERS, passwordFormFor } from '../../../src/adapters/postgres/common.ts';
import type { PostgresSession } from '../../../src/adapters/postgres/connect.ts';
import {
  checkRedshiftPassword,
  redshiftMd5Hash,
  redshiftPasswordProblems,
  redshiftSha256Hash,
} from '../../../src/adapters/postgres/redshift.ts';
import { changeOwnPassword } from '../../../src/adapters/postgres/roles.ts';
import { parsePostgresSecret } from '../../../src/adapters/postgres/secret.ts';
import { readPostgresSettings } from '../../../src/adapters/postgres/settings.ts';
import { redshiftSetPasswordStatement } from '../../../src/adapters/postgres/sql.ts';
import { SecretShapeError } from '../../../src/core/errors.ts';
import { generatePassword, passwordPolicyFromEnv } from '../../../src/core/password.ts';

describe('Redshift password hashes', () => {
  it('md5: "md5" and the hex MD5 of password then user name (value from openssl)', () => {
    // printf 'Abcdefg1bar' | openssl dgst -md5
    expect(redshiftMd5Hash('Abcdefg1', 'bar')).toBe('md57e7b91534a8ef5bb620be4249f1938a8');
  });

  it('sha256: "sha256|<digest>|<salt>" with the digest over password then salt text (value from openssl)', () => {
    const salt = Buffer.alloc(32, 1);
    // printf 'Abcdefg1%s' "$(printf '01%.0s' $(seq 1 32))" | openssl dgst -sha256
    expect(redshiftSha256Hash('Abcdefg1', { salt })).toBe(
      `sha256|58e4e9d45cd334c87354987ef47d13ca2349f0e223dd17433150f25330c28da4|${'01'.repeat(32)}`,
    );
  });

  it('sha256: a fresh random 256-bit salt each time, so the same password gives different hashes', () => {
    const first = redshiftSha256Hash('Abcdefg1');
    const second = redshiftSha256Hash('Abcdefg1');
    expect(first).toMatch(/^sha256\|[0-9a-f]{64}\|[0-9a-f]{64}$/);
    expect(second).not.toBe(first);
    expect(() => redshiftSha256Hash('Abcdefg1', { salt: Buffer.alloc(16) })).toThrow(RangeError);
  });

  it('the statement takes only a hash, quotes the user name, and never holds the password', () => {
    const password = 'Secret-Pw-9';
    const user = 'o\'brien "dba"; DROP USER x';
    const md5 = redshiftSetPasswordStatement(user, redshiftMd5Hash(password, user));
    expect(md5).toMatch(/^ALTER USER "o'brien ""dba""; DROP USER x" PASSWORD 'md5[0-9a-f]{32}'$/);
    const sha = redshiftSetPasswordStatement('app', redshiftSha256Hash(password));
    expect(sha).toMatch(/^ALTER USER "app" PASSWORD 'sha256\|[0-9a-f]{64}\|[0-9a-f]{64}'$/);
    for (const statement of [md5, sha]) expect(statement).not.toContain(password);
    // A password, or the sha256|<password> form that carries one, is refused.
    expect(() => redshiftSetPasswordStatement('app', password)).toThrow(RangeError);
    expect(() => redshiftSetPasswordStatement('app', `sha256|${password}`)).toThrow(RangeError);
    expect(() => redshiftSetPasswordStatement('app', "md5' OR '1")).toThrow(RangeError);
  });
});

describe("Redshift's password rules", () => {
  it.each([
    ['8 characters, all classes', 'Abcdefg1'],
    ['64 characters', `Ab1${'x'.repeat(61)}`],
    ['allowed punctuation', 'Ab1!#$%&()*+,-.:;<=>?[]^_`{|}~'],
  ])('accepts %s', (_kind, password) => {
    expect(redshiftPasswordProblems(password)).toEqual([]);
    expect(() => checkRedshiftPassword(password, 'password')).not.toThrow();
  });

  it.each([
    ['7 characters', 'Abcde1x', /7 characters long/],
    ['65 characters', `Ab1${'x'.repeat(62)}`, /65 characters long/],
    ['no upper-case letter', 'abcdefg1', /no upper-case/],
    ['no lower-case letter', 'ABCDEFG1', /no lower-case/],
    ['no digit', 'Abcdefgh', /no digit/],
    ['a space', 'Abcd efg1', /outside printable ASCII/],
    ['non-ASCII', 'Abcdéfg1', /outside printable ASCII/],
    ['a single quote', "Abcd'fg1", /refuses \('\)/],
    ['a double quote', 'Abcd"fg1', /refuses \("\)/],
    ['a backslash', 'Abcd\\fg1', /refuses \(\\\)/],
    ['a slash', 'Abcd/fg1', /refuses \(\/\)/],
    ['an at sign', 'Abcd@fg1', /refuses \(@\)/],
  ])('refuses %s, naming the field and the rule but not the password', (_kind, password, rule) => {
    let error: unknown;
    try {
      checkRedshiftPassword(password, 'password');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SecretShapeError);
    const message = (error as Error).message;
    expect(message).toContain('"password"');
    expect(message).toMatch(rule);
    expect(message).not.toContain(password);
  });

  it('the default password policy of the PostgreSQL handlers always produces passwords Redshift accepts', () => {
    const policy = passwordPolicyFromEnv({}, POSTGRES_EXCLUDE_CHARACTERS);
    for (let i = 0; i < 500; i += 1) expect(redshiftPasswordProblems(generatePassword(policy))).toEqual([]);
  });
});

describe('"engine": "redshift" secrets', () => {
  it('are accepted, with port 5439 when the secret has none', () => {
    const secret = parsePostgresSecret(
      JSON.stringify({ engine: 'redshift', host: 'cluster.example', username: 'app', password: 'Abcdefg1' }),
      'postgres-single-user',
    );
    expect(secret.engine).toBe('redshift');
    expect(secret.port).toBe(5439);
    const withPort = parsePostgresSecret(
      JSON.stringify({ engine: 'redshift', host: 'h', username: 'app', password: 'Abcdefg1', port: 5440 }),
      'postgres-single-user',
    );
    expect(withPort.port).toBe(5440);
  });
});

describe('what a Redshift user sends to change its own password', () => {
  /** A session that records every statement and answers WHO_AM_I as `user`. */
  function recordingSession(user: string) {
    const sent: Array<{ text: string; values: readonly unknown[] }> = [];
    const session = {
      async query(text: string, values: readonly unknown[]) {
        sent.push({ text, values });
        return text.includes('session_user') ? [{ session_user: user, current_user: user }] : [];
      },
    } as unknown as PostgresSession;
    return { session, sent };
  }
  const ctx = { logger: { info() {}, warn() {}, error() {} }, metrics: { count() {} }, redact() {} } as never;
  const password = 'Rotated-Pw-42x';
  const secret = parsePostgresSecret(
    JSON.stringify({ engine: 'redshift', host: 'h', username: 'etl', password }),
    'postgres-single-user',
  );

  it.each([
    ['md5 (default)', {}, /^ALTER USER "etl" PASSWORD 'md5[0-9a-f]{32}'$/],
    [
      'sha256',
      { PG_REDSHIFT_PASSWORD_HASH: 'sha256' },
      /^ALTER USER "etl" PASSWORD 'sha256\|[0-9a-f]{64}\|[0-9a-f]{64}'$/,
    ],
  ])(
    '%s: one ALTER USER with the hash, no SET ROLE, and the password nowhere',
    async (_kind, env, statement) => {
      const { session, sent } = recordingSession('etl');
      await changeOwnPassword(
        session,
        'etl',
        password,
        passwordFormFor(secret, readPostgresSettings(env)),
        ctx,
      );
      const texts = sent.map((entry) => entry.text);
      expect(texts.some((text) => statement.test(text))).toBe(true);
      expect(texts.some((text) => /SET ROLE/i.test(text))).toBe(false);
      expect(JSON.stringify(sent)).not.toContain(password);
    },
  );

  it('a postgres secret still gets a SCRAM verifier through ALTER ROLE', async () => {
    const { session, sent } = recordingSession('etl');
    const postgres = { ...secret, engine: 'postgres' as const };
    await changeOwnPassword(
      session,
      'etl',
      password,
      passwordFormFor(postgres, readPostgresSettings({})),
      ctx,
    );
    expect(sent.some((entry) => /^ALTER ROLE "etl" PASSWORD 'SCRAM-SHA-256\$4096:/.test(entry.text))).toBe(
      true,
    );
    expect(JSON.stringify(sent)).not.toContain(password);
  });
});
