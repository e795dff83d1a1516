/**
 * The package as a user gets it: `npm pack`, the tarball installed into an empty project outside the
 * repository, then used only through what was installed: the `secrets-rotator` command (help, the
 * local endpoint, a rotation with a built-in handler), every export imported in plain Node, and a
 * TypeScript consumer compiled with `strict` and `skipLibCheck: false`.
 *
 * One pack and one install for the whole file (they are the slow part). Dependencies come from the
 * npm cache when they are there, else from the registry.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-lambdas.ts';
import { trackSecrets } from '../support/leak-scan.ts';

const run = promisify(execFile);

/** The Node that runs the tests (22 or later) first on PATH, as it is for a user who installed the package. */
const PATH = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
/**
 * A user's shell: this machine's environment (its proxy and CA settings reach npm) without its AWS
 * settings, plus dummy credentials and one region.
 */
const USER_ENV: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_'))),
  PATH,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDLOCALTESTONLY',
  AWS_SECRET_ACCESS_KEY: 'local-test-only',
  PASSWORD_GENERATOR: 'local',
};

let workDir: string;
let project: string;
let bin: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'installed-package-'));
  const packDir = join(workDir, 'pack');
  project = join(workDir, 'consumer');
  await run('mkdir', ['-p', packDir, project]);
  // prepack compiles src/ to dist/lib.
  await run('npm', ['pack', '--silent', '--pack-destination', packDir], {
    cwd: REPO_ROOT,
    env: { ...process.env, PATH },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 240_000,
  });
  const [tarball] = (await readdir(packDir)).filter((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack wrote no tarball into ${packDir}`);
  await writeFile(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
  );
  const versionOf = async (name: string) =>
    JSON.parse(await readFile(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8'))
      .version as string;
  const nodeTypes = await versionOf('@types/node');
  // The optional peer dependency `secrets-rotator build` bundles with, as a user adds it.
  const esbuildVersion = await versionOf('esbuild');
  const install = (mode: readonly string[]) =>
    run(
      'npm',
      [
        'install',
        ...mode,
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        join(packDir, tarball),
        `@types/node@${nodeTypes}`,
        `esbuild@${esbuildVersion}`,
      ],
      { cwd: project, env: USER_ENV, maxBuffer: 64 * 1024 * 1024, timeout: 240_000 },
    );
  // From npm's cache alone first (this checkout's npm ci filled it): a registry request that stalls
  // would otherwise hold the install for npm's 5-minute fetch timeout.
  await install(['--offline']).catch(() =>
    install(['--prefer-offline', '--fetch-timeout=20000', '--fetch-retries=1']),
  );
  bin = join(project, 'node_modules', '.bin', 'secrets-rotator');
}, 600_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGTERM');
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

function cli(args: readonly string[]) {
  return run(bin, args, { cwd: project, env: USER_ENV }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code ?? -1,
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
}

/** Starts `secrets-rotator local-endpoint` from the installed package and waits for its URL. */
function startEndpoint(args: readonly string[]): Promise<string> {
  const child = spawn(bin, ['local-endpoint', '--port', '0', ...args], { cwd: project, env: USER_ENV });
  children.push(child);
  let printed = '';
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      printed += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(printed);
      if (match) resolve(match[1]!);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      printed += chunk;
    });
    child.once('exit', (code) => reject(new Error(`local-endpoint exited (${code}): ${printed}`)));
  });
}

describe('the package installed from its tarball', () => {
  it('installs the command, which runs the compiled JavaScript (no TypeScript under node_modules)', async () => {
    const help = await cli(['--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: secrets-rotator');
    expect(help.stdout).toContain('local-endpoint');
    // --version comes from the installed package.json, found from dist/lib/cli.
    const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const version = await cli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(manifest.version);
  });

  it('runs local-endpoint, then rotate --handler random-secret against it, and RotateSecret through a named function', async () => {
    const endpoint = await startEndpoint(['--rotation-function', 'demo-rotator=random-secret']);
    const client = new SecretsManagerClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDLOCALTESTONLY', secretAccessKey: 'local-test-only' },
    });
    const initial = 'installed-initial-value';
    trackSecrets(initial);
    await client.send(new CreateSecretCommand({ Name: 'installed/key', SecretString: initial }));

    const rotated = await cli([
      'rotate',
      'installed/key',
      '--handler',
      'random-secret',
      '--endpoint-url',
      endpoint,
    ]);
    expect(rotated.stderr).not.toMatch(/could not be loaded|ERR_/);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/Rotated installed\/key: AWSCURRENT is version [0-9a-f]{8}/);
    const afterLocal = await client.send(new GetSecretValueCommand({ SecretId: 'installed/key' }));
    trackSecrets(afterLocal.SecretString);
    expect(afterLocal.SecretString).not.toBe(initial);

    const viaService = await cli([
      'rotate',
      'installed/key',
      '--via-service',
      '--rotation-lambda-arn',
      'arn:aws:lambda:us-east-1:123456789012:function:demo-rotator',
      '--endpoint-url',
      endpoint,
      '--poll-interval',
      '20',
    ]);
    expect(viaService.code).toBe(0);
    const afterService = await client.send(new GetSecretValueCommand({ SecretId: 'installed/key' }));
    trackSecrets(afterService.SecretString);
    expect(afterService.SecretString).not.toBe(afterLocal.SecretString);
    client.destroy();
  });

  it('imports every export of package.json in plain Node', async () => {
    const pkg = JSON.parse(
      await readFile(join(project, 'node_modules/secrets-rotator/package.json'), 'utf8'),
    ) as {
      exports: Record<string, unknown>;
    };
    // Every adapter folder with an index.ts is reachable as secrets-rotator/adapters/<name>.
    const adapters = (await readdir(join(REPO_ROOT, 'src/adapters'), { recursive: true }))
      .filter((path) => /^[\w-]+\/index\.ts$/.test(path))
      .map((path) => dirname(path))
      .sort();
    const specifiers = Object.keys(pkg.exports).flatMap((key) =>
      key.endsWith('/*')
        ? adapters.map((name) => `secrets-rotator/${key.slice(2, -1)}${name}`)
        : [`secrets-rotator${key.slice(1)}`],
    );
    expect(specifiers).toContain('secrets-rotator/adapters/postgres');
    const script = `for (const s of ${JSON.stringify(specifiers)}) { const m = await import(s); console.log(s, Object.keys(m).length); }`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: project,
      env: USER_ENV,
    });
    const counts = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ') as [string, string]),
    );
    expect(Object.keys(counts)).toEqual(specifiers);
    for (const [specifier, count] of Object.entries(counts))
      expect(Number(count), specifier).toBeGreaterThan(0);
  });

  it('builds a rotator of the project into a Lambda zip that exports handler (secrets-rotator build)', {
    timeout: 120_000,
  }, async () => {
    await writeFile(
      join(project, 'my-rotator.ts'),
      [
        "import { createRotationHandler } from 'secrets-rotator';",
        "import { randomSecret } from 'secrets-rotator/adapters/random-secret';",
        'export const handler = createRotationHandler(randomSecret());',
        '',
      ].join('\n'),
    );
    const built = await cli(['build', 'my-rotator.ts', '--output', 'json']);
    expect(built.stderr).toBe('');
    expect(built.code).toBe(0);
    const { zip } = JSON.parse(built.stdout) as { zip: string };
    expect(zip).toBe(join(project, 'dist', 'lambda', 'my-rotator.zip'));
    const { stdout } = await run('unzip', ['-p', zip, 'index.mjs'], { maxBuffer: 64 * 1024 * 1024 });
    expect(stdout).toMatch(/export\s*\{[^}]*as handler\s*\}/);
    expect(stdout).toContain('"ConfigurationError"');
  });

  it('compiles a TypeScript consumer with strict and skipLibCheck: false', { timeout: 180_000 }, async () => {
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
        },
        include: ['consumer.ts'],
      }),
    );
    await writeFile(
      join(project, 'consumer.ts'),
      [
        "import { createRotationHandler, ConfigurationError, type RotationHandler, type RotationTarget } from 'secrets-rotator';",
        "import { randomSecret } from 'secrets-rotator/adapters/random-secret';",
        "import { postgresSingleUser } from 'secrets-rotator/adapters/postgres';",
        "import { mysqlAlternatingUsers } from 'secrets-rotator/adapters/mysql';",
        "import { httpApiKey } from 'secrets-rotator/adapters/http-api-key';",
        "import { oauthClientSecret } from 'secrets-rotator/adapters/oauth-client-secret';",
        "import { redisAlternatingUsers } from 'secrets-rotator/adapters/redis';",
        "import { elastiCacheUser } from 'secrets-rotator/adapters/elasticache';",
        "import { sshKeys } from 'secrets-rotator/adapters/ssh-keys';",
        "import { rotateSecret, startLocalSecretsManager } from 'secrets-rotator/testing';",
        "import * as client from 'secrets-rotator/client';",
        '',
        'export const handler: RotationHandler = createRotationHandler(randomSecret());',
        'const targets: RotationTarget<unknown>[] = [postgresSingleUser(), mysqlAlternatingUsers(), httpApiKey(), redisAlternatingUsers(), oauthClientSecret(), elastiCacheUser(), sshKeys()];',
        'export const names: string[] = targets.map((target) => target.name);',
        'export const isConfig = (error: unknown): boolean => error instanceof ConfigurationError;',
        'export async function once(): Promise<boolean> {',
        '  const sm = await startLocalSecretsManager();',
        "  const result = await rotateSecret({ client: sm.client(), secretId: 'x', handler });",
        '  await sm.close();',
        '  return result.ok;',
        '}',
        'export const clientExports: string[] = Object.keys(client);',
        '',
      ].join('\n'),
    );
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const compiled = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }).then(
      () => 'ok',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(compiled).toBe('ok');
  });
});
