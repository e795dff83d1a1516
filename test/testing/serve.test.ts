/**
 * The endpoint as a process (`node src/testing/serve.ts`) and as a function the operator CLI wraps.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { rotateSecret } from '../../src/testing/index.ts';
import { runLocalSecretsManagerCli } from '../../src/testing/serve.ts';
import { fakeRotator } from './fake-rotator.ts';

const serveScript = fileURLToPath(new URL('../../src/testing/serve.ts', import.meta.url));
let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  child = undefined;
});

function clientFor(endpoint: string) {
  return new SecretsManagerClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'ignored-by-the-endpoint' },
  });
}

describe('runLocalSecretsManagerCli', () => {
  it('starts the endpoint, prints its URL and serves the SDK', async () => {
    const lines: string[] = [];
    const local = await runLocalSecretsManagerCli(
      ['--port', '0', '--region', 'eu-west-1', '--account-id', '111122223333'],
      {
        out: (line) => lines.push(line),
        err: (line) => lines.push(line),
      },
    );
    try {
      expect(local).toBeDefined();
      expect(lines).toEqual([`Local Secrets Manager endpoint listening on ${local!.endpoint}`]);
      expect(local!.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const created = await local!
        .client()
        .send(new CreateSecretCommand({ Name: 'cli/one', SecretString: 'cli-value-1' }));
      expect(created.ARN).toMatch(/^arn:aws:secretsmanager:eu-west-1:111122223333:secret:cli\/one-/);
    } finally {
      await local?.close();
    }
  });

  it('prints usage for --help and names a bad flag value', async () => {
    const lines: string[] = [];
    const output = { out: (line: string) => lines.push(line), err: (line: string) => lines.push(line) };
    expect(await runLocalSecretsManagerCli(['--help'], output)).toBeUndefined();
    expect(lines.join('\n')).toContain('--port');
    await expect(runLocalSecretsManagerCli(['--port', 'eighty'], output)).rejects.toThrow(
      /--port must be a whole number/,
    );
    await expect(runLocalSecretsManagerCli(['--account-id', '12'], output)).rejects.toThrow(
      /--account-id must be 12 digits/,
    );
    await expect(runLocalSecretsManagerCli(['--colour', 'red'], output)).rejects.toThrow(/colour/);
  });
});

describe('serve.ts as a process', () => {
  it('prints the URL; the SDK and the rotation driver work against it from this process', async () => {
    child = spawn(process.execPath, [serveScript, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const endpoint = await new Promise<string>((resolve, reject) => {
      let output = '';
      child!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      child!.once('exit', (code) =>
        reject(new Error(`serve.ts exited with ${code} before printing its URL`)),
      );
    });
    const client = clientFor(endpoint);
    try {
      const created = await client.send(
        new CreateSecretCommand({ Name: 'process/one', SecretString: 'process-value' }),
      );
      // The driver registers the placeholder over HTTP, so it works against another process.
      const result = await rotateSecret({ client, secretId: created.ARN!, handler: fakeRotator(client) });
      expect(result.ok).toBe(true);
      expect((await client.send(new GetSecretValueCommand({ SecretId: created.ARN }))).SecretString).toBe(
        'process-value+rotated',
      );
    } finally {
      client.destroy();
    }
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
