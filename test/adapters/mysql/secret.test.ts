import { describe, expect, it } from 'vitest';
import {
  accountNameLength,
  alternatingPair,
  checkAccountName,
  checkPairLength,
  otherUser,
  parseMasterSecret,
  parseMysqlSecret,
  sameHost,
  serializeMysqlSecret,
  withCredentials,
} from '../../../src/adapters/mysql/secret.ts';
import { SecretShapeError } from '../../../src/core/errors.ts';
import { quotedName } from '../../../src/database/secret.ts';
import { trackSecrets } from '../../support/leak-scan.ts';

const PASSWORD = 'Current-Secret-Pw-42';
const base = { engine: 'mariadb', host: 'db.internal', username: 'app', password: PASSWORD };
const parse = (value: unknown) => parseMysqlSecret(JSON.stringify(value), 'mysql-single-user');

function shapeError(run: () => unknown): SecretShapeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretShapeError);
    expect((error as Error).message).not.toContain(PASSWORD);
    return error as SecretShapeError;
  }
  throw new Error('expected a SecretShapeError');
}

describe('parseMysqlSecret', () => {
  trackSecrets(PASSWORD);

  it.each(['mysql', 'aurora-mysql', 'mariadb'])(
    'accepts engine %s with defaults: port 3306, no dbname',
    (engine) => {
      const secret = parse({ ...base, engine });
      expect(secret).toMatchObject({
        engine,
        host: 'db.internal',
        port: 3306,
        username: 'app',
        dbname: undefined,
      });
      expect(secret.ssl).toBeUndefined();
      expect(secret.masterarn).toBeUndefined();
    },
  );

  it('reads a port as number or numeric string, dbname, ssl as boolean or string, and masterarn', () => {
    expect(parse({ ...base, port: 3307 }).port).toBe(3307);
    expect(parse({ ...base, port: ' 3308 ' }).port).toBe(3308);
    expect(parse({ ...base, dbname: 'shop' }).dbname).toBe('shop');
    expect(parse({ ...base, ssl: true }).ssl).toBe(true);
    expect(parse({ ...base, ssl: 'FALSE' }).ssl).toBe(false);
    expect(parse({ ...base, masterarn: 'arn:aws:secretsmanager:x' }).masterarn).toBe(
      'arn:aws:secretsmanager:x',
    );
  });

  it.each([
    [{ ...base, engine: 'postgres' }, 'engine', 'accepted values are mysql, aurora-mysql, mariadb'],
    [{ ...base, engine: undefined }, 'engine', 'is missing'],
    [{ ...base, host: '' }, 'host', 'is empty'],
    [{ ...base, username: 42 }, 'username', 'is a number'],
    [{ ...base, password: undefined }, 'password', 'is missing'],
    [{ ...base, port: 'abc' }, 'port', 'not a port number'],
    [{ ...base, port: 70000 }, 'port', 'not a port number'],
    [{ ...base, ssl: 'maybe' }, 'ssl', 'use true or "true"'],
    [{ ...base, dbname: '' }, 'dbname', 'is empty'],
    [{ ...base, username: 'app🙂' }, 'username', 'Basic Multilingual Plane'],
    [{ ...base, password: `${PASSWORD}\0` }, 'password', 'NUL'],
  ])('names the field and the fix for %j', (value, field, words) => {
    const error = shapeError(() => parse(value));
    expect(error.field).toBe(field);
    expect(error.message).toContain(words);
  });

  it('refuses values that are not JSON objects, without quoting them', () => {
    expect(shapeError(() => parseMysqlSecret(`{"password":"${PASSWORD}"`, 'x')).message).toContain(
      'not valid JSON',
    );
    expect(shapeError(() => parseMysqlSecret('[1]', 'x')).message).toContain('not a JSON object');
  });

  it('carries unknown fields and their original types into the next version', () => {
    const current = parse({ ...base, port: '3306', team: 'payments', nested: { a: 1 } });
    const next = withCredentials(current, { username: 'app_clone', password: 'New-Pw-1' });
    trackSecrets('New-Pw-1');
    expect(JSON.parse(serializeMysqlSecret(next))).toEqual({
      ...base,
      port: '3306',
      team: 'payments',
      nested: { a: 1 },
      username: 'app_clone',
      password: 'New-Pw-1',
    });
  });
});

describe('user name length, by engine', () => {
  trackSecrets(PASSWORD);

  it.each([
    ['mysql', 32],
    ['aurora-mysql', 32],
    ['mariadb', 80],
  ] as const)(
    'engine %s accepts %i characters and refuses one more, naming the field and the limit',
    (engine, limit) => {
      expect(parse({ ...base, engine, username: 'u'.repeat(limit) }).username).toHaveLength(limit);
      const error = shapeError(() => parse({ ...base, engine, username: 'u'.repeat(limit + 1) }));
      expect(error.field).toBe('username');
      expect(error.message).toContain(
        `is ${limit + 1} characters long, more than the ${limit} allowed for engine "${engine}"`,
      );
    },
  );

  it('counts characters as the server does, not bytes', () => {
    expect(parse({ ...base, engine: 'mysql', username: 'ü'.repeat(32) }).username).toBe('ü'.repeat(32));
  });

  it('never quotes a huge name whole', () => {
    const error = shapeError(() => parse({ ...base, username: 'u'.repeat(60_000) }));
    expect(error.field).toBe('username');
    expect(error.message).toContain(
      'is 60000 characters long, more than the 80 allowed for engine "mariadb"',
    );
    expect(error.message).not.toContain('u'.repeat(65));
    expect(error.message.length).toBeLessThan(400);
  });
});

describe('checkPairLength', () => {
  it('passes a pair that fits, from either side', () => {
    expect(() => checkPairLength('u'.repeat(26), 32, 'engine "mysql"')).not.toThrow();
    expect(() => checkPairLength(`${'u'.repeat(26)}_clone`, 32, 'engine "mysql"')).not.toThrow();
  });

  it("names the partner when only the clone's name would be too long", () => {
    const error = shapeError(() => checkPairLength('u'.repeat(27), 32, 'engine "mysql"'));
    expect(error.field).toBe('username');
    expect(error.message).toContain(
      `is "${'u'.repeat(27)}", whose alternating partner "${'u'.repeat(27)}_clone" would be 33 characters long, more than the 32 allowed for engine "mysql"`,
    );
    expect(error.message).toContain('shorten the user name to at most 26 characters');
  });

  it('calls a name that is too long itself too long, not its own partner', () => {
    const name = 'u'.repeat(40);
    const error = shapeError(() => checkPairLength(name, 32, 'MySQL 8.0.36'));
    expect(error.field).toBe('username');
    expect(error.message).toContain('is 40 characters long, more than the 32 allowed for MySQL 8.0.36');
    expect(error.message).not.toContain('partner');
    expect(error.message).not.toContain(name);
    expect(error.message).toContain('at most 26 characters');
  });

  it('keeps the message short for a huge name', () => {
    const error = shapeError(() => checkPairLength('u'.repeat(60_000), 80, 'engine "mariadb"'));
    expect(error.message).toContain(
      'is 60000 characters long, more than the 80 allowed for engine "mariadb"',
    );
    expect(error.message).not.toContain('u'.repeat(65));
    expect(error.message.length).toBeLessThan(400);
  });
});

describe('names', () => {
  it('compares hosts case-insensitively, ignoring a trailing dot', () => {
    expect(sameHost('DB.Example.com.', 'db.example.com')).toBe(true);
    expect(sameHost('db1.example.com', 'db2.example.com')).toBe(false);
  });

  it('pairs users with the _clone suffix, from either side', () => {
    expect(alternatingPair('app')).toEqual({ original: 'app', clone: 'app_clone', other: 'app_clone' });
    expect(alternatingPair('app_clone')).toEqual({ original: 'app', clone: 'app_clone', other: 'app' });
    expect(otherUser('app')).toBe('app_clone');
    expect(otherUser('app_clone')).toBe('app');
    expect(otherUser('_clone')).toBe('_clone_clone');
  });

  it('quotes a long name in messages only up to 64 characters, with its length', () => {
    expect(quotedName('app')).toBe('"app"');
    expect(quotedName('ü'.repeat(64))).toBe(`"${'ü'.repeat(64)}"`);
    expect(quotedName('u'.repeat(60_000))).toBe(`"${'u'.repeat(64)}…" (60000 characters)`);
  });

  it('counts characters, not bytes or UTF-16 units', () => {
    expect(accountNameLength('äpp')).toBe(3);
    expect(accountNameLength('用户')).toBe(2);
  });

  it('refuses names MySQL cannot store', () => {
    expect(() => checkAccountName('a\0b', 'username')).toThrow(/NUL/);
    expect(() => checkAccountName('x😀', 'username')).toThrow(/Basic Multilingual Plane/);
    expect(() => checkAccountName(`o'brien; "x" \`y\` ü`, 'username')).not.toThrow();
  });
});

describe('parseMasterSecret', () => {
  it('needs only username and password, as in an RDS-managed master secret', () => {
    trackSecrets('Master-Pw-123');
    expect(parseMasterSecret('{"username":"admin","password":"Master-Pw-123"}', 'arn:m')).toEqual({
      username: 'admin',
      password: 'Master-Pw-123',
      host: undefined,
    });
  });

  it('names the master ARN and the missing field, never a value', () => {
    expect(() => parseMasterSecret('{"username":"admin"}', 'arn:m')).toThrow(
      /arn:m, which has no non-empty string "password"/,
    );
    expect(() => parseMasterSecret('nope', 'arn:m')).toThrow(/not valid JSON/);
  });
});
