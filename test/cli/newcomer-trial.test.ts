/**
 * A newcomer's first trial of the CLI against the real local endpoint, replayed: each case is one
 * surprise they reported, driven through the CLI exactly as they ran it.
 */

import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomSecret } from '../../src/adapters/random-secret/index.ts';
import { awsFailure } from '../../src/cli/aws.ts';
import { packageVersion } from '../../src/cli/version.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import { callLocalExtension, rotateSecret } from '../../src/testing/driver.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { BROKEN_ROTATOR, createSecret, trackCurrent, useCliFixture } from './fixtures.ts';
import { cli } from './run.ts';

const fixture = useCliFixture();
const env = { PASSWORD_GENERATOR: 'local' };

const run = (argv: string[], extraEnv: Record<string, string> = {}) =>
  cli([...argv, ...fixture.endpointArgs], { now: fixture.clock.now, env: { ...env, ...extraEnv } });

async function versionLabels(name: string): Promise<Record<string, string[]>> {
  const answer = await fixture.client.send(new ListSecretVersionIdsCommand({ SecretId: name }));
  return Object.fromEntries((answer.Versions ?? []).map((v) => [v.VersionId!, v.VersionStages ?? []]));
}

describe('repair on a secret without rotation configured', () => {
  it('refuses a 19-second-old AWSPENDING without --force, though rotation is disabled', async () => {
    const name = 'newcomer/repair-young';
    await createSecret(fixture.client, name);
    // The newcomer's way to an unfinished rotation: rotate --handler failing at createSecret (a plain
    // string secret, RANDOM_SECRET_FIELD set) leaves the AWSPENDING placeholder; rotation was never
    // configured on the secret.
    const failed = await run(['rotate', name, '--handler', 'random-secret'], {
      RANDOM_SECRET_FIELD: 'password',
    });
    expect(failed.code).toBe(1);
    const before = await versionLabels(name);
    const pendingId = Object.keys(before).find((id) => before[id]!.includes('AWSPENDING'))!;
    expect(pendingId).toBeDefined();
    fixture.clock.advance(19_000);

    const status = await run(['status', name, '--output', 'json']);
    expect(status.json<{ verdict: string }>().verdict).toBe('rotation-disabled');

    const refused = await run(['repair', name, '--yes']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('may still be running');
    expect(refused.stderr).toContain('--force');
    expect(await versionLabels(name)).toEqual(before);

    const forced = await run(['repair', name, '--yes', '--force', '--output', 'json']);
    expect(forced.code).toBe(0);
    expect(forced.json<{ changed: boolean }>().changed).toBe(true);
    expect((await versionLabels(name))[pendingId] ?? []).not.toContain('AWSPENDING');
  });
});

describe('random-secret on a JSON secret', () => {
  it('refuses a JSON object without RANDOM_SECRET_FIELD, naming the setting, and writes nothing', async () => {
    const name = 'newcomer/json-secret';
    const password = 'pw-newcomer-9f3c2a7d1e';
    trackSecrets(password);
    const original = JSON.stringify({ username: 'svc', password });
    await fixture.client.send(new CreateSecretCommand({ Name: name, SecretString: original }));

    const refused = await run(['rotate', name, '--handler', 'random-secret']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('RANDOM_SECRET_FIELD');
    expect(refused.stderr).toMatch(/failed at createSecret/);
    const current = await fixture.client.send(new GetSecretValueCommand({ SecretId: name }));
    expect(current.SecretString).toBe(original);
    // No value was stored for the new version: only the valueless placeholder exists.
    const pending = await fixture.client
      .send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' }))
      .then(
        () => 'stored',
        (error: { name?: string }) => error.name,
      );
    expect(pending).toBe('ResourceNotFoundException');

    // With the field named, only that field changes.
    const rotated = await run(['rotate', name, '--handler', 'random-secret', '--resume'], {
      RANDOM_SECRET_FIELD: 'password',
    });
    expect(rotated.code).toBe(0);
    const after = await fixture.client.send(new GetSecretValueCommand({ SecretId: name }));
    const parsed = JSON.parse(after.SecretString!) as { username: string; password: string };
    trackSecrets(parsed.password);
    expect(parsed.username).toBe('svc');
    expect(parsed.password).not.toBe(password);
  });
});

/** A loopback HTTP server that is not Secrets Manager, answering every request the same way. */
async function fakeServer(status: number, contentType: string, body: string): Promise<Server> {
  const server = createServer((request, response) => {
    request.resume();
    response.writeHead(status, { 'content-type': contentType });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function urlOf(server: Server, scheme = 'http'): string {
  return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const RAW_SDK_WORDING =
  /Deserialization error|\$response|UnknownError|wrong version number|OpenSSL|ssl3_get_record|tls_validate/;

describe('a wrong kind of endpoint', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('an HTTP server that is not Secrets Manager: a clear message and a fix, exit 3', async () => {
    const web = await fakeServer(200, 'text/html', '<html><body>It works!</body></html>');
    const missing = await fakeServer(404, 'text/html', '<html>Not Found</html>');
    const broken = await fakeServer(500, 'text/plain', '');
    servers.push(web, missing, broken);
    for (const server of [web, missing, broken]) {
      const result = await cli(['status', 'app/db', '--endpoint-url', urlOf(server)]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(`endpoint ${urlOf(server)} answered HTTP`);
      expect(result.stderr).toContain('not a Secrets Manager endpoint');
      expect(result.stderr).toMatch(/fix: point --endpoint-url .* at a Secrets Manager endpoint/);
      expect(result.stderr).not.toMatch(RAW_SDK_WORDING);
    }
  });

  it('https:// to a plain-HTTP port: says so and gives the http:// URL, exit 3', async () => {
    const endpointUrl = fixture.local.endpoint.replace(/^http:/, 'https:');
    const result = await cli(['status', 'app/db', '--endpoint-url', endpointUrl]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('does not speak HTTPS on that port');
    expect(result.stderr).toContain(
      `fix: use http:// for a plain-HTTP endpoint: --endpoint-url ${fixture.local.endpoint}`,
    );
    expect(result.stderr).not.toMatch(RAW_SDK_WORDING);
  });
});

describe('AWS configuration problems (exit 3)', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'newcomer-home-'));
    await mkdir(join(home, '.aws'));
    await writeFile(
      join(home, '.aws', 'config'),
      '[default]\nregion = eu-west-1\n\n[profile dev]\nregion = eu-west-1\n',
    );
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('--profile nosuch names the missing profile and the defined ones', async () => {
    const result = await cli(['status', 'app/db', '--profile', 'nosuch', '--region', 'eu-west-1'], {
      env: { HOME: home },
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      'AWS profile "nosuch" (--profile) is not defined in ~/.aws/config or ~/.aws/credentials',
    );
    expect(result.stderr).toContain('use one of the defined profiles (default, dev)');
    expect(result.stderr).not.toContain('no AWS credentials found');
  });

  it('no region configured exits 3, as docs/cli.md says', async () => {
    // The SDK reads the region from the process environment and files too: make sure it finds none.
    const saved = { ...process.env };
    for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[name];
    process.env.AWS_CONFIG_FILE = join(home, 'no-config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(home, 'no-credentials');
    const result = await cli(['status', 'app/db', '--endpoint-url', 'http://192.0.2.1:4566'], {
      env: { HOME: home, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'example' },
    }).finally(() => {
      process.env = saved;
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('no AWS region is configured');
    expect(result.stderr).toContain('fix: pass --region');
  });
});

describe('rotate --via-service without a usable rotation function', () => {
  it('exits 1 for a secret with no rotation function and for a function the endpoint does not know', async () => {
    await createSecret(fixture.client, 'newcomer/no-function');
    const none = await run(['rotate', 'newcomer/no-function', '--via-service', '--poll-interval', '20']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('pass --rotation-lambda-arn');

    const unknown = await run([
      'rotate',
      'newcomer/no-function',
      '--via-service',
      '--poll-interval',
      '20',
      '--rotation-lambda-arn',
      'arn:aws:lambda:us-east-1:123456789012:function:my-rotator',
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(
      `the local endpoint at ${fixture.local.endpoint} has no rotation function my-rotator`,
    );
    expect(unknown.stderr).toContain(
      'fix: restart it with the function attached: secrets-rotator local-endpoint --rotation-function my-rotator=<handler>',
    );
    expect(unknown.stderr).not.toContain('registerRotationFunction');
  });
});

describe('JSON durations and --version', () => {
  it('rounds every duration in JSON output to 0.1 ms', async () => {
    await createSecret(fixture.client, 'newcomer/durations');
    const result = await run([
      'rotate',
      'newcomer/durations',
      '--handler',
      'random-secret',
      '--output',
      'json',
    ]);
    await trackCurrent(fixture.client, 'newcomer/durations');
    expect(result.code).toBe(0);
    const durations = [...result.stdout.matchAll(/"(\w+Ms)": (-?[\d.e+-]+)/g)];
    expect(durations.map(([, key]) => key)).toEqual(expect.arrayContaining(['durationMs', 'totalMs']));
    for (const [, key, value] of durations) {
      expect(`${key}: ${value}`).toMatch(/: \d+(\.\d)?$/);
    }
  });

  it('prints the version of package.json', async () => {
    const manifest = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const result = await cli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(manifest.version);
  });

  it('finds package.json from an installed package, where the compiled CLI sits in dist/lib/cli', async () => {
    const root = await mkdtemp(join(tmpdir(), 'installed-'));
    try {
      const pkg = join(root, 'node_modules', 'secrets-rotator');
      await mkdir(join(pkg, 'dist', 'lib', 'cli'), { recursive: true });
      await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'their-app', version: '9.9.9' }));
      await writeFile(
        join(pkg, 'package.json'),
        JSON.stringify({ name: 'secrets-rotator', version: '1.2.3' }),
      );
      // A package.json that is not the package's own (a nested type marker) is walked past.
      await writeFile(join(pkg, 'dist', 'package.json'), JSON.stringify({ type: 'module' }));
      expect(packageVersion(join(pkg, 'dist', 'lib', 'cli', 'version.js'))).toBe('1.2.3');
      expect(packageVersion(join(pkg, 'src', 'cli', 'version.ts'))).toBe('1.2.3');
      expect(packageVersion(join(root, 'elsewhere', 'x.js'))).toBe('unknown');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('status right after a failed rotate --via-service', () => {
  it('says the rotation failed at setSecret (stuck), not "rotating … wait", and repair needs no --force', async () => {
    const name = 'newcomer/failed-via-service';
    await createSecret(fixture.client, name);
    const rotated = await run([
      'rotate',
      name,
      '--via-service',
      '--rotation-lambda-arn',
      BROKEN_ROTATOR,
      '--poll-interval',
      '20',
    ]);
    await fixture.local.idle();
    await trackPending(name);
    expect(rotated.code).toBe(1);
    expect(rotated.stderr).toContain('failed at setSecret');

    const table = await run(['status', name]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/Verdict\s+STUCK/);
    expect(table.stdout).toMatch(
      /stuck: the rotation to version [0-9a-f]{8} failed at setSecret: .*the target refused the change/,
    );
    expect(table.stdout).not.toMatch(/rotating|wait/i);
    expect(table.stdout).toContain(`secrets-rotator repair ${name}`);

    const json = (await run(['status', name, '--output', 'json'])).json<{ verdict: string }>();
    expect(json.verdict).toBe('stuck');

    // Known to have failed, so not "may still be running".
    const repaired = await run(['repair', name, '--yes']);
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toContain('Repaired: AWSPENDING removed');
  });

  it('still calls a young rotation with no reported outcome "rotating", and says it may have failed', async () => {
    const name = 'newcomer/young-unknown';
    await createSecret(fixture.client, name);
    await callLocalExtension(fixture.client, 'LocalRegisterPendingVersion', {
      SecretId: name,
      ClientRequestToken: randomUUID(),
    });
    const json = (await run(['status', name, '--output', 'json'])).json<{
      findings: Array<{ verdict: string; message: string; fix: string }>;
    }>();
    const rotating = json.findings.find((finding) => finding.verdict === 'rotating');
    expect(rotating?.message).toContain('still running, or failed');
    expect(rotating?.fix).toContain("rotation function's logs");
  });
});

async function trackPending(name: string): Promise<void> {
  try {
    const pending = await fixture.client.send(
      new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' }),
    );
    trackSecrets(pending.SecretString);
  } catch {
    // No pending value stored.
  }
}

describe('a custom rotator run locally with secrets-rotator/testing', () => {
  /** Runs `work` and returns the JSON lines written to stdout meanwhile (Powertools logs and EMF). */
  async function jsonLinesOnStdout(work: () => Promise<void>): Promise<string[]> {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter((line) => line.startsWith('{')),
      );
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
    try {
      await work();
    } finally {
      process.stdout.write = write;
    }
    return lines;
  }

  async function rotateAsNewcomer(name: string, quiet: boolean): Promise<string[]> {
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', fixture.local.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDLOCAL');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local-endpoint-ignores-signatures');
    vi.stubEnv('PASSWORD_GENERATOR', 'local');
    if (quiet) {
      vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'silent');
      vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    }
    try {
      await createSecret(fixture.client, name);
      // As the newcomer wrote it: default options, a plain SDK client, the endpoint from the environment.
      const handler = createRotationHandler(randomSecret());
      const client = new SecretsManagerClient({});
      let ok = false;
      const lines = await jsonLinesOnStdout(async () => {
        ok = (await rotateSecret({ client, secretId: name, handler })).ok;
      });
      client.destroy();
      await trackCurrent(fixture.client, name);
      expect(ok).toBe(true);
      return lines;
    } finally {
      vi.unstubAllEnvs();
    }
  }

  it('rotateSecret follows AWS_ENDPOINT_URL_SECRETS_MANAGER (a client with no endpoint option)', async () => {
    const lines = await rotateAsNewcomer('newcomer/custom-loud', false);
    // Without the quiet settings the run prints its log and metric lines (the capture works).
    expect(lines.some((line) => line.includes('"step succeeded"'))).toBe(true);
    expect(lines.some((line) => line.includes('"CloudWatchMetrics"'))).toBe(true);
  });

  it('POWERTOOLS_LOG_LEVEL=silent and POWERTOOLS_METRICS_DISABLED=true quiet it completely', async () => {
    expect(await rotateAsNewcomer('newcomer/custom-quiet', true)).toEqual([]);
  });
});

describe('more of the exit-code contract', () => {
  it('a bad setting in the environment is a usage error (2) naming the variable, not an AWS error', async () => {
    await createSecret(fixture.client, 'newcomer/bad-setting');
    const result = await run(['rotate', 'newcomer/bad-setting', '--handler', 'random-secret'], {
      PASSWORD_LENGTH: 'abc',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PASSWORD_LENGTH must be a whole number');
    expect(result.stderr).toContain('fix: fix PASSWORD_LENGTH and run again');
  });

  it('a defined profile that yields no credentials is named in the message', () => {
    const failure = awsFailure(
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
      'reading secret app/db',
      { output: 'table', profile: 'dev' },
    );
    expect(failure.exitCode).toBe(3);
    expect(failure.message).toBe('reading secret app/db: AWS profile "dev" gave no credentials');
    expect(failure.fix).toContain('aws sso login --profile dev');
  });
});

describe('the CLI with AWS_ENDPOINT_URL_SECRETS_MANAGER instead of --endpoint-url', () => {
  it('treats it as --endpoint-url: no credentials or region needed for the local endpoint', async () => {
    await createSecret(fixture.client, 'newcomer/env-endpoint');
    const result = await cli(['status', 'newcomer/env-endpoint', '--output', 'json'], {
      now: fixture.clock.now,
      env: { AWS_ENDPOINT_URL_SECRETS_MANAGER: fixture.local.endpoint },
    });
    expect(result.stderr).toBe('');
    expect(result.json<{ name: string }>().name).toBe('newcomer/env-endpoint');
  });
});
