import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { secretValue } from './fixtures.ts';
import { cli, startCliEndpoint } from './run.ts';

describe('local-endpoint', () => {
  it('serves the endpoint in the foreground, with a named rotation function for RotateSecret, until stopped', async () => {
    const running = await startCliEndpoint(
      ['--port', '0', '--rotation-function', 'demo-rotator=random-secret'],
      {
        env: { PASSWORD_GENERATOR: 'local' },
      },
    );
    const endpoint = running.endpoint;
    expect(running.printed()).toContain(
      'rotation function demo-rotator → random-secret: arn:aws:lambda:us-east-1:123456789012:function:demo-rotator',
    );

    const client = running.client();
    await client.send(new CreateSecretCommand({ Name: 'offline/key', SecretString: secretValue() }));
    const rotated = await cli([
      'rotate',
      'offline/key',
      '--via-service',
      '--rotation-lambda-arn',
      'arn:aws:lambda:us-east-1:123456789012:function:demo-rotator',
      '--endpoint-url',
      endpoint,
      '--poll-interval',
      '20',
    ]);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/AWSCURRENT moved [0-9a-f]{8} → [0-9a-f]{8}/);

    const result = await running.stop();
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('local endpoint stopped');
    await expect(
      client.send(new CreateSecretCommand({ Name: 'offline/late', SecretString: 'x' })),
    ).rejects.toThrow();
    client.destroy();
  });

  it('refuses a port in use and a malformed --rotation-function, naming the flag (exit 2)', async () => {
    const first = await startCliEndpoint(['--port', '0']);
    const port = new URL(first.endpoint).port;
    const clash = await cli(['local-endpoint', '--port', port]);
    await first.stop();
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain(`cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
    expect(clash.stderr).toContain('pick another --port');

    const malformed = await cli(['local-endpoint', '--rotation-function', 'random-secret']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain(
      "option '--rotation-function <function=handler>' argument 'random-secret' is invalid",
    );
  });
});

describe('local-endpoint --seed', () => {
  it('starts with the secrets of a JSON file, and refuses a broken file naming the flag (exit 2)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'seed-cli-'));
    try {
      const value = secretValue();
      const seedFile = join(dir, 'secrets.json');
      await writeFile(seedFile, JSON.stringify({ 'offline/seeded': value }));
      const running = await startCliEndpoint(['--port', '0', '--seed', seedFile]);
      const endpoint = running.endpoint;
      expect(running.printed()).toContain(`seeded 1 secret(s) from ${seedFile}`);
      const status = await cli(['status', 'offline/seeded', '--endpoint-url', endpoint, '--output', 'json']);
      await running.stop();
      expect(status.stdout).toContain('"name": "offline/seeded"');
      expect(status.stdout).not.toContain(value);

      const broken = join(dir, 'broken.json');
      await writeFile(broken, `[{"Name": "x", "SecretString": "${value}"`);
      const refused = await cli(['local-endpoint', '--port', '0', '--seed', broken]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`the seed file ${broken} is not valid JSON`);
      expect(refused.stderr).not.toContain(value);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
