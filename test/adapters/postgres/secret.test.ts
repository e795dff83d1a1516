import { describe, expect, it } from 'vitest';
import { postgresAlternatingUsers, postgresSingleUser } from '../../../src/adapters/postgres/index.ts';
import {
  identifierBytes,
  parseMasterSecret,
  parsePostgresSecret,
  sameHost,
  serializePostgresSecret,
  withCredentials,
} from '../../../src/adapters/postgres/secret.ts';
import { SecretShapeError } from '../../../src/core/errors.ts';
import { trackSecrets } from '../../support/leak-scan.ts';

const PASSWORD = 'Very-Secret-Password-123';
const base = { engine: 'postgres', host: 'db.internal', username: 'app', password: PASSWORD };
const parse = (value: unknown) => parsePostgresSecret(JSON.stringify(value), 'postgres-single-user');

function shapeError(value: unknown): SecretShapeError {
  try {
    parse(value);
  } catch (error) {
    expect(error).toBeInstanceOf(SecretShapeError);
    expect((error as Error).message).not.toContain(PASSWORD);
    return error as SecretShapeError;
  }
  throw new Error('expected a SecretShapeError');
}

describe('parsePostgresSecret', () => {
  it('reads the required fields and applies the defaults of docs/protocol.md#the-database-secret', () => {
    trackSecrets(PASSWORD);
    const secret = parse(base);
    expect(secret).toMatchObject({
      engine: 'postgres',
      host: 'db.internal',
      port: 5432,
      username: 'app',
      password: PASSWORD,
      dbname: 'postgres',
      ssl: undefined,
      masterarn: undefined,
    });
  });

  it('accepts aurora-postgresql, a numeric-string port, ssl as a string and a dbname', () => {
    const secret = parse({
      ...base,
      engine: 'aurora-postgresql',
      port: '6432',
      ssl: 'TRUE',
      dbname: 'orders',
    });
    expect(secret.engine).toBe('aurora-postgresql');
    expect(secret.port).toBe(6432);
    expect(secret.ssl).toBe(true);
    expect(secret.dbname).toBe('orders');
    expect(parse({ ...base, ssl: false }).ssl).toBe(false);
    expect(parse({ ...base, ssl: 'false' }).ssl).toBe(false);
  });

  it('refuses another engine with a message naming the adapter and the accepted values', () => {
    const error = shapeError({ ...base, engine: 'mysql' });
    expect(error.field).toBe('engine');
    expect(error.message).toContain('"mysql"');
    expect(error.message).toContain('postgres-single-user');
    expect(error.message).toContain('postgres, aurora-postgresql');
    expect(shapeError({ ...base, engine: undefined }).message).toContain('missing');
  });

  it.each([
    ['host', { ...base, host: '' }, 'empty'],
    ['host', { ...base, host: 42 }, 'a number'],
    ['username', { ...base, username: undefined }, 'missing'],
    ['password', { ...base, password: null }, 'null'],
    ['port', { ...base, port: 'http' }, 'not a port number'],
    ['port', { ...base, port: 70000 }, 'not a port number'],
    ['port', { ...base, port: 54.32 }, 'not a port number'],
    ['ssl', { ...base, ssl: 'yes please' }, 'TLS required'],
    ['dbname', { ...base, dbname: '' }, 'empty'],
    ['masterarn', { ...base, masterarn: 7 }, 'a number'],
  ])('names the field %s and the problem', (field, value, words) => {
    const error = shapeError(value);
    expect(error.field).toBe(field);
    expect(error.message).toContain(words);
  });

  it('refuses a user name longer than 63 bytes, counting bytes rather than characters', () => {
    expect(parse({ ...base, username: 'u'.repeat(63) }).username).toHaveLength(63);
    expect(shapeError({ ...base, username: 'u'.repeat(64) }).message).toContain('63 bytes');
    // 32 characters, 64 bytes.
    expect(shapeError({ ...base, username: 'ä'.repeat(32) }).field).toBe('username');
    expect(identifierBytes('ä'.repeat(31))).toBe(62);
  });

  it('reports text that is not a JSON object without quoting it', () => {
    for (const raw of [`not json ${PASSWORD}`, `["${PASSWORD}"]`, 'null']) {
      let caught: unknown;
      try {
        parsePostgresSecret(raw, 'postgres-single-user');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SecretShapeError);
      expect((caught as Error).message).not.toContain(PASSWORD);
    }
  });

  it('carries unknown fields and the original form of known ones into the next version', () => {
    const stored = { ...base, port: '5432', proxy: { name: 'p1' }, tags: ['a'], ssl: 'true' };
    const next = withCredentials(parse(stored), { username: 'app_clone', password: 'New-Password-456' });
    trackSecrets('New-Password-456');
    expect(JSON.parse(serializePostgresSecret(next))).toEqual({
      ...stored,
      username: 'app_clone',
      password: 'New-Password-456',
    });
  });

  it('is what both targets use, with the adapter name in the engine error', () => {
    const raw = JSON.stringify({ ...base, engine: 'oracle' });
    expect(() => postgresAlternatingUsers().parse(raw)).toThrow(/postgres-alternating-users/);
    expect(postgresSingleUser().secrets(parse(base))).toEqual([PASSWORD]);
  });
});

describe('sameHost', () => {
  it('ignores case and one trailing dot', () => {
    expect(sameHost('DB.Example.com.', 'db.example.com')).toBe(true);
    expect(sameHost('db.example.com', 'db2.example.com')).toBe(false);
  });
});

describe('parseMasterSecret', () => {
  it('needs only username and password (an RDS-managed master secret holds nothing else)', () => {
    expect(parseMasterSecret(JSON.stringify({ username: 'admin', password: PASSWORD }), 'arn:m')).toEqual({
      username: 'admin',
      password: PASSWORD,
      host: undefined,
    });
  });

  it('names the master secret and the missing field, never a value', () => {
    expect(() => parseMasterSecret(JSON.stringify({ username: 'admin' }), 'arn:master')).toThrow(
      /arn:master.*"password"/,
    );
    expect(() => parseMasterSecret(`{${PASSWORD}`, 'arn:master')).toThrow(/not valid JSON/);
  });
});
