import { SecretShapeError } from 'secrets-rotator';
import { parseDatabaseSecret } from 'secrets-rotator/client';
import { describe, expect, it } from 'vitest';
import { trackSecrets } from '../support/leak-scan.ts';

const PASSWORD = 'db-secret-password-value';
const base = { engine: 'postgres', host: 'db.internal', username: 'app', password: PASSWORD };

function parse(value: Record<string, unknown>) {
  trackSecrets(JSON.stringify(value), PASSWORD);
  return parseDatabaseSecret(JSON.stringify(value));
}

describe('parseDatabaseSecret', () => {
  it('reads the connection fields and leaves out the rest', () => {
    expect(
      parse({ ...base, port: 6432, dbname: 'orders', ssl: true, masterarn: 'arn:x', team: 'a' }),
    ).toEqual({
      engine: 'postgres',
      host: 'db.internal',
      port: 6432,
      username: 'app',
      password: PASSWORD,
      dbname: 'orders',
      ssl: true,
    });
  });

  it('accepts a numeric string port and "true"/"false" for ssl; absent fields stay undefined', () => {
    expect(parse({ ...base, port: '3306', ssl: 'false' })).toMatchObject({ port: 3306, ssl: false });
    expect(parse({ ...base, ssl: 'true' }).ssl).toBe(true);
    expect(parse(base)).toMatchObject({ port: undefined, dbname: undefined, ssl: undefined });
    // Other tools write "" for a field they leave unset; the client reads it as absent.
    expect(parse({ ...base, engine: '', port: '', dbname: '' })).toMatchObject({
      engine: undefined,
      port: undefined,
      dbname: undefined,
    });
  });

  it.each([
    ['username', { ...base, username: undefined }],
    ['password', { ...base, password: '' }],
    ['host', { ...base, host: 7 }],
    ['port', { ...base, port: 70000 }],
    ['port', { ...base, port: '54x' }],
    ['ssl', { ...base, ssl: 'yes' }],
    ['dbname', { ...base, dbname: 5 }],
  ])('names the field at fault: %s', (field, value) => {
    const error = (() => {
      try {
        parse(value);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(SecretShapeError);
    expect((error as SecretShapeError).field).toBe(field);
    expect((error as Error).message).not.toContain(PASSWORD);
  });

  it('never quotes the text of a value that is not JSON', () => {
    trackSecrets('not-json-password-text');
    const error = (() => {
      try {
        parseDatabaseSecret('{"password": not-json-password-text');
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(SecretShapeError);
    expect(error?.message).toContain('not valid JSON');
    expect(error?.message).not.toContain('not-json-password-text');
    expect(() => parseDatabaseSecret('["a"]')).toThrow(/not a JSON object/);
  });
});
