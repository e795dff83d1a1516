/**
 * `secrets-rotator build` on a user's own rotator (examples/custom-rotator): the same zip shape as
 * the built-in handlers (one index.mjs, fixed date and mode, same bytes on every build), run as
 * deployed through full rotations against a stand-in for the service it rotates tokens of.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-lambdas.ts';
import { type LocalSecretsManager, rotateSecret, startLocalSecretsManager } from '../../src/testing/index.ts';
import { cli } from '../cli/run.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { lambdaEnvironment, startDeployedLambda, unpackLambda } from './support/deployed-lambda.ts';

const run = promisify(execFile);
const ENTRY = join(REPO_ROOT, 'examples/custom-rotator/rotator.ts');

let workDir: string;
let sm: LocalSecretsManager;
let service: Server;
let serviceUrl: string;
/** Tokens the stand-in service accepts. */
const valid = new Set<string>();

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'custom-rotator-zip-'));
  sm = await startLocalSecretsManager();
  // The service of the example: a valid token may add a token (/tokens) or revoke one (/tokens/revoke).
  service = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    const token = request.headers.authorization?.replace('Bearer ', '') ?? '';
    let status = 401;
    if (valid.has(token) && request.url === '/whoami') status = 200;
    else if (valid.has(token) && request.url === '/tokens') {
      valid.add(JSON.parse(body).token);
      status = 201;
    } else if (valid.has(token) && request.url === '/tokens/revoke') {
      status = valid.delete(JSON.parse(body).token) ? 204 : 404;
    }
    response.writeHead(status).end();
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await sm?.close();
  await new Promise((resolve) => service?.close(resolve));
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function build(outDir: string) {
  const result = await cli([
    'build',
    ENTRY,
    '--out-dir',
    outDir,
    '--name',
    'service-token',
    '--output',
    'json',
  ]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.json<{ zip: string; sha256: string; sourceMap: string; handler: string; runtime: string }>();
}

describe('secrets-rotator build examples/custom-rotator/rotator.ts', () => {
  it('writes one zip holding only index.mjs (fixed date, rw-r--r--), the same bytes each time; the source map elsewhere', async () => {
    const first = await build(join(workDir, 'a', 'lambda'));
    const second = await build(join(workDir, 'b', 'lambda'));
    expect(first.zip).toBe(join(workDir, 'a', 'lambda', 'service-token.zip'));
    expect(second.sha256).toBe(first.sha256);
    expect(
      createHash('sha256')
        .update(await readFile(first.zip))
        .digest('hex'),
    ).toBe(first.sha256);
    expect(first).toMatchObject({ handler: 'index.handler', runtime: 'nodejs22.x' });
    expect(await readdir(join(workDir, 'a', 'lambda'))).toEqual(['service-token.zip']);
    expect(first.sourceMap).toBe(
      join(workDir, 'a', 'lambda-source-maps-do-not-upload', 'service-token.index.mjs.map'),
    );
    const { stdout } = await run('zipinfo', ['-l', first.zip]);
    const entries = stdout.split('\n').filter((line) => /^[-d]r/.test(line));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/^-rw-r--r-- .* 00-Jan-01 00:00 index\.mjs$/);
  });

  it('refuses a file that does not export handler, naming the fix (exit 2)', async () => {
    const result = await cli([
      'build',
      join(REPO_ROOT, 'src/core/stages.ts'),
      '--out-dir',
      join(workDir, 'bad'),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/exports .*, not "handler"/);
    expect(result.stderr).toContain('export const handler = createRotationHandler');
  });

  it('the zip rotates the token 3 times as deployed, and keeps error names (TargetRefusedError)', async () => {
    const built = await build(join(workDir, 'deploy', 'lambda'));
    const dir = await unpackLambda(built.zip, join(workDir, 'unpacked'));
    const first = 'first-token-of-the-service';
    valid.add(first);
    trackSecrets(first);
    const client = sm.client();
    const created = await client.send(
      new CreateSecretCommand({
        Name: 'custom/service-token',
        SecretString: JSON.stringify({ url: serviceUrl, token: first }),
      }),
    );
    const deployed = await startDeployedLambda({
      dir,
      env: lambdaEnvironment({
        endpoint: sm.endpoint,
        functionName: 'service-token-rotator',
        taskRoot: dir,
        settings: { ALLOWED_SECRET_IDS: created.ARN!, PASSWORD_GENERATOR: 'local' },
      }),
    });
    try {
      let before = first;
      for (let rotation = 1; rotation <= 3; rotation++) {
        const result = await rotateSecret({ client, secretId: created.ARN!, handler: deployed.handler });
        expect(result.error ?? 'ok', `rotation ${rotation}`).toBe('ok');
        const now = await client.send(new GetSecretValueCommand({ SecretId: created.ARN! }));
        const token = (JSON.parse(now.SecretString!) as { token: string }).token;
        trackSecrets(token, now.SecretString);
        expect(token).not.toBe(before);
        expect(valid.has(token)).toBe(true);
        expect(valid.has(before), 'the previous token is revoked').toBe(false);
        before = token;
      }
      // The service stops accepting the current token: the next rotation is refused, by name.
      valid.clear();
      const refused = await rotateSecret({ client, secretId: created.ARN!, handler: deployed.handler });
      expect(refused.ok).toBe(false);
      expect((refused.cause as Error).name).toBe('TargetRefusedError');
      expect(deployed.output()).not.toContain(before);
    } finally {
      await deployed.close();
    }
  });
});
