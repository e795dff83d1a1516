/**
 * The local endpoint's `seed` option: secrets it starts with, created by the same rules as
 * CreateSecret, read through the real SDK client.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalSecretsManager } from '../../src/testing/index.ts';
import { readSeedFile } from '../../src/testing/seed.ts';
import { trackSecrets } from '../support/leak-scan.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'seed-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('seed', () => {
  it('starts with the secrets of an object of name → value; JSON values are stored as their text', async () => {
    const local = await startLocalSecretsManager({
      seed: { 'app/key': 'first-value', 'app/db': { username: 'app', port: 5432 } },
    });
    const client = local.client();
    try {
      const key = await client.send(new GetSecretValueCommand({ SecretId: 'app/key' }));
      expect(key.SecretString).toBe('first-value');
      expect(key.VersionStages).toEqual(['AWSCURRENT']);
      const db = await client.send(new GetSecretValueCommand({ SecretId: 'app/db' }));
      expect(JSON.parse(db.SecretString!)).toEqual({ username: 'app', port: 5432 });
    } finally {
      await local.close();
    }
  });

  it('takes a list of CreateSecret entries with description and tags', async () => {
    const local = await startLocalSecretsManager({
      seed: [
        {
          Name: 'team/token',
          SecretString: 't1',
          Description: 'a token',
          Tags: [{ Key: 'team', Value: 'a' }],
        },
        { Name: 'team/empty' },
      ],
    });
    const client = local.client();
    try {
      const described = await client.send(new DescribeSecretCommand({ SecretId: 'team/token' }));
      expect(described.Description).toBe('a token');
      expect(described.Tags).toEqual([{ Key: 'team', Value: 'a' }]);
      const empty = await client.send(new DescribeSecretCommand({ SecretId: 'team/empty' }));
      expect(empty.VersionIdsToStages ?? {}).toEqual({});
    } finally {
      await local.close();
    }
  });

  it('refuses a bad entry before listening, naming it and never quoting a value', async () => {
    const value = 's3cret-seed-value';
    trackSecrets(value);
    await expect(startLocalSecretsManager({ seed: [{ Name: '', SecretString: value }] })).rejects.toThrow(
      'seed[0].Name must be the secret\'s name, e.g. "app/db"',
    );
    await expect(
      startLocalSecretsManager({ seed: [{ Name: 'a', SecretString: value, Colour: 'x' } as never] }),
    ).rejects.toThrow('seed[0] has an unknown field "Colour"');
    await expect(startLocalSecretsManager({ seed: { 'bad name!': value } })).rejects.toThrow(
      /^seed secret "bad name!" refused: /,
    );
    const twice = startLocalSecretsManager({ seed: [{ Name: 'dup', SecretString: value }, { Name: 'dup' }] });
    const error = await twice.catch((caught: Error) => caught);
    expect(String(error)).toMatch(/seed secret "dup" refused: ResourceExistsException/);
    expect(String(error)).not.toContain(value);
  });

  it('reads a seed file, and reports a syntax error by position without quoting the file', async () => {
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ 'app/key': 'v1' }));
    expect(await readSeedFile(good)).toEqual({ 'app/key': 'v1' });

    const value = 'hunter2-in-a-broken-file';
    trackSecrets(value);
    const broken = join(dir, 'broken.json');
    await writeFile(broken, `{"app/key": "${value}",}`);
    const error = await readSeedFile(broken).catch((caught: Error) => caught);
    expect(String(error)).toMatch(/the seed file .*broken\.json is not valid JSON/);
    expect(String(error)).not.toContain(value);
    await expect(readSeedFile(join(dir, 'missing.json'))).rejects.toThrow(
      /cannot read the seed file .* \(ENOENT\)/,
    );
  });
});
