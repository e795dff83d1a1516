import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postgresSingleUser } from '../../../src/adapters/postgres/index.ts';
import { readPostgresSettings } from '../../../src/adapters/postgres/settings.ts';
import { createRotationHandler } from '../../../src/core/engine.ts';
import { ConfigurationError } from '../../../src/core/errors.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

describe('readPostgresSettings', () => {
  it('has defaults for everything', () => {
    expect(readPostgresSettings({})).toEqual({
      tlsMode: 'verify-full',
      caBundle: undefined,
      tlsServerName: undefined,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 15000,
      testQuery: undefined,
      scramIterations: 4096,
      redshiftPasswordHash: 'md5',
      preProvisionedPair: false,
    });
  });

  it('reads a CA bundle from a file or inline, the certificate name, timeouts and the probe', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-settings-'));
    const path = join(dir, 'bundle.pem');
    await writeFile(path, PEM);
    const settings = readPostgresSettings({
      PG_CA_BUNDLE: path,
      PG_TLS_SERVERNAME: 'db.example.com.',
      PG_CONNECT_TIMEOUT_MS: '2500',
      PG_STATEMENT_TIMEOUT_MS: '60000',
      PG_TEST_QUERY: 'SELECT 1 FROM orders LIMIT 1',
      PG_SCRAM_ITERATIONS: '10000',
      PG_PREPROVISIONED_PAIR: 'yes',
      PG_REDSHIFT_PASSWORD_HASH: 'SHA256',
      PG_TLS_MODE: ' Prefer ',
    });
    expect(settings).toEqual({
      tlsMode: 'prefer',
      caBundle: PEM,
      tlsServerName: 'db.example.com',
      connectTimeoutMs: 2500,
      statementTimeoutMs: 60000,
      testQuery: 'SELECT 1 FROM orders LIMIT 1',
      scramIterations: 10000,
      redshiftPasswordHash: 'sha256',
      preProvisionedPair: true,
    });
    expect(readPostgresSettings({ PG_CA_BUNDLE: PEM }).caBundle).toBe(PEM.trim());
    // Line breaks written as \n, as environment variables often carry them.
    expect(readPostgresSettings({ PG_CA_BUNDLE: PEM.trim().replaceAll('\n', '\\n') }).caBundle).toBe(
      PEM.trim(),
    );
  });

  it('lets the factory option win over PG_PREPROVISIONED_PAIR', () => {
    expect(
      readPostgresSettings({ PG_PREPROVISIONED_PAIR: 'true' }, { preProvisionedPair: false })
        .preProvisionedPair,
    ).toBe(false);
  });

  it.each([
    ['PG_TLS_MODE', 'require', /must be verify-full .*, prefer .* or disable .*, got "require"/],
    ['PG_CA_BUNDLE', '/nonexistent/bundle.pem', /cannot be read \(ENOENT\)/],
    ['PG_CA_BUNDLE', '-----BEGIN NOTHING-----', /no PEM certificate/],
    ['PG_TLS_SERVERNAME', 'db example', /host name or IP address/],
    ['PG_CONNECT_TIMEOUT_MS', 'soon', /whole number/],
    ['PG_STATEMENT_TIMEOUT_MS', '0', /from 100/],
    ['PG_SCRAM_ITERATIONS', '1000000', /4096 to 100000/],
    ['PG_PREPROVISIONED_PAIR', 'maybe', /true\/1\/y\/yes/],
  ])('%s=%s is a ConfigurationError naming the variable', (name, value, problem) => {
    let caught: unknown;
    try {
      readPostgresSettings({ [name]: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigurationError);
    expect((caught as ConfigurationError).setting).toBe(name);
    expect((caught as Error).message).toMatch(problem);
  });

  it('fails when the handler is created, not mid-rotation', () => {
    expect(() =>
      createRotationHandler(postgresSingleUser(), { env: { PG_CONNECT_TIMEOUT_MS: 'never' } }),
    ).toThrow(ConfigurationError);
  });
});
