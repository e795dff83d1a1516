import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlAlternatingUsers, mysqlSingleUser } from '../../../src/adapters/mysql/index.ts';
import { readMysqlSettings } from '../../../src/adapters/mysql/settings.ts';
import { createRotationHandler } from '../../../src/core/engine.ts';
import { ConfigurationError } from '../../../src/core/errors.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS } from '../../../src/database/settings.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mysql-settings-'));
  await writeFile(join(dir, 'ca.pem'), PEM);
  await writeFile(join(dir, 'empty.pem'), 'nothing here');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// A throw-away RSA key, as MYSQL_SERVER_PUBLIC_KEY would pin a server's.
const RSA_PUBLIC_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

describe('readMysqlSettings', () => {
  it('has defaults for everything', () => {
    expect(readMysqlSettings({})).toEqual({
      tlsMode: 'verify-full',
      serverPublicKey: undefined,
      caBundle: undefined,
      tlsServerName: undefined,
      connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: DEFAULT_STATEMENT_TIMEOUT_MS,
      testQuery: undefined,
      dualPassword: false,
      preProvisionedPair: false,
    });
  });

  it('reads every variable', () => {
    const settings = readMysqlSettings({
      MYSQL_CA_BUNDLE: join(dir, 'ca.pem'),
      MYSQL_TLS_SERVERNAME: 'db.example.com.',
      MYSQL_CONNECT_TIMEOUT_MS: '2500',
      MYSQL_STATEMENT_TIMEOUT_MS: '4000',
      MYSQL_TEST_QUERY: 'SELECT 1 FROM shop.orders LIMIT 1',
      MYSQL_DUAL_PASSWORD: 'yes',
      MYSQL_PREPROVISIONED_PAIR: '1',
      MYSQL_TLS_MODE: 'disable',
      MYSQL_SERVER_PUBLIC_KEY: RSA_PUBLIC_KEY,
    });
    expect(settings).toEqual({
      tlsMode: 'disable',
      serverPublicKey: RSA_PUBLIC_KEY.trim(),
      caBundle: PEM,
      tlsServerName: 'db.example.com',
      connectTimeoutMs: 2500,
      statementTimeoutMs: 4000,
      testQuery: 'SELECT 1 FROM shop.orders LIMIT 1',
      dualPassword: true,
      preProvisionedPair: true,
    });
    expect(readMysqlSettings({ MYSQL_CA_BUNDLE: PEM }).caBundle).toBe(PEM.trim());
    // PEM text with its line breaks written as "\n", as environment variables often carry it.
    expect(readMysqlSettings({ MYSQL_CA_BUNDLE: PEM.trim().replaceAll('\n', '\\n') }).caBundle).toBe(
      PEM.trim(),
    );
  });

  it('lets factory options win over the environment', () => {
    const env = { MYSQL_DUAL_PASSWORD: 'true', MYSQL_PREPROVISIONED_PAIR: 'true' };
    expect(readMysqlSettings(env, { dualPassword: false, preProvisionedPair: false })).toMatchObject({
      dualPassword: false,
      preProvisionedPair: false,
    });
  });

  it.each([
    ['MYSQL_TLS_MODE', 'required', 'must be verify-full'],
    ['MYSQL_SERVER_PUBLIC_KEY', '/nonexistent/key.pem', 'cannot be read (ENOENT)'],
    ['MYSQL_SERVER_PUBLIC_KEY', 'EMPTY', 'holds no RSA public key'],
    ['MYSQL_CA_BUNDLE', '/nonexistent/ca.pem', 'cannot be read (ENOENT)'],
    ['MYSQL_CA_BUNDLE', 'EMPTY', 'holds no PEM certificate'],
    ['MYSQL_TLS_SERVERNAME', 'not a host!', 'must be a host name'],
    ['MYSQL_TLS_SERVERNAME', '10.0.0.1', 'must be a host name'],
    ['MYSQL_CONNECT_TIMEOUT_MS', 'soon', 'must be a whole number from 100 to 300000'],
    ['MYSQL_STATEMENT_TIMEOUT_MS', '5', 'must be a whole number from 100 to 900000'],
    ['MYSQL_DUAL_PASSWORD', 'maybe', 'must be true/1/y/yes or false/0/n/no'],
    ['MYSQL_PREPROVISIONED_PAIR', 'sometimes', 'must be true/1/y/yes or false/0/n/no'],
  ])('refuses %s=%s naming the variable', (name, value, words) => {
    const env = { [name]: value === 'EMPTY' ? join(dir, 'empty.pem') : value };
    let error: unknown;
    try {
      readMysqlSettings(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).setting).toBe(name);
    expect((error as Error).message).toContain(words);
  });

  it('fails when the handler is created, not mid-rotation', () => {
    expect(() =>
      createRotationHandler(mysqlSingleUser(), { env: { MYSQL_CONNECT_TIMEOUT_MS: 'x' } }),
    ).toThrow(/MYSQL_CONNECT_TIMEOUT_MS/);
    expect(() =>
      createRotationHandler(mysqlAlternatingUsers(), { env: { MYSQL_PREPROVISIONED_PAIR: 'perhaps' } }),
    ).toThrow(/MYSQL_PREPROVISIONED_PAIR/);
  });

  it("gives both targets AWS's MySQL default for EXCLUDE_CHARACTERS", () => {
    expect(mysqlSingleUser().defaultExcludeCharacters).toBe('/@"\'\\');
    expect(mysqlAlternatingUsers().defaultExcludeCharacters).toBe('/@"\'\\');
  });
});
