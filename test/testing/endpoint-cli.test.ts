/**
 * The endpoint as a foreground process: `secrets-rotator local-endpoint`, run in-process.
 */
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { rotateSecret } from '../../src/testing/index.ts';
import { cli, startCliEndpoint } from '../cli/run.ts';
import { fakeRotator } from './fake-rotator.ts';

describe('secrets-rotator local-endpoint', () => {
  it('starts the endpoint, prints its URL and serves the SDK with the account id given', async () => {
    const running = await startCliEndpoint(['--port', '0', '--account-id', '111122223333']);
    const client = running.client();
    try {
      expect(running.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(running.printed()).toContain(`listening on ${running.endpoint}`);
      const created = await client.send(
        new CreateSecretCommand({ Name: 'cli/one', SecretString: 'cli-value-1' }),
      );
      expect(created.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:111122223333:secret:cli\/one-/);
    } finally {
      client.destroy();
    }
    expect((await running.stop()).code).toBe(0);
  });

  it('prints usage for --help and names a bad flag value (exit 2)', async () => {
    const help = await cli(['local-endpoint', '--help']);
    expect(help.stdout).toContain('--port');
    const port = await cli(['local-endpoint', '--port', 'eighty']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain("option '--port <port>' argument 'eighty' is invalid");
    const unknown = await cli(['local-endpoint', '--colour', 'red']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--colour');
  });

  it('the rotation driver works against it over HTTP, as against an endpoint in another process', async () => {
    const running = await startCliEndpoint(['--port', '0']);
    const client = running.client();
    try {
      const created = await client.send(
        new CreateSecretCommand({ Name: 'process/one', SecretString: 'process-value' }),
      );
      // The driver registers the placeholder over HTTP (LocalRegisterPendingVersion), not in memory.
      const result = await rotateSecret({ client, secretId: created.ARN!, handler: fakeRotator(client) });
      expect(result.ok).toBe(true);
      expect((await client.send(new GetSecretValueCommand({ SecretId: created.ARN }))).SecretString).toBe(
        'process-value+rotated',
      );
    } finally {
      client.destroy();
    }
    expect((await running.stop()).code).toBe(0);
  });
});
