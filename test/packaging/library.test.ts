import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
let outDir: string;

// What `npm pack` ships for library users: JavaScript and declarations compiled from src/ (Node
// does not strip types inside node_modules), reached through the package's exports without the
// in-repo `source` condition.
beforeAll(async () => {
  // Inside the repository (git-ignored .tmp/) so the compiled files find node_modules, as an
  // installed package does.
  await mkdir(join(root, '.tmp'), { recursive: true });
  outDir = await mkdtemp(join(root, '.tmp', 'lib-'));
  await run(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', outDir], {
    cwd: root,
  });
});
afterAll(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe('the library build (npm run build:lib)', () => {
  it.each([
    ['index.js', 'createRotationHandler'],
    ['testing/index.js', 'startLocalSecretsManager'],
    ['client/index.js', 'SecretCache'],
    ['adapters/postgres/index.js', 'postgresSingleUser'],
    ['adapters/mysql/index.js', 'mysqlAlternatingUsers'],
    ['adapters/http-api-key/index.js', 'httpApiKey'],
    ['adapters/oauth-client-secret/index.js', 'oauthClientSecret'],
    ['adapters/random-secret/index.js', 'randomSecret'],
    ['adapters/ssh-keys/index.js', 'sshKeys'],
  ])('%s loads in plain Node and exports %s', async (file, name) => {
    const script = `const m = await import(${JSON.stringify(join(outDir, file))}); console.log(typeof m[${JSON.stringify(name)}]);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: outDir });
    expect(stdout.trim()).toBe('function');
  });

  it('ships declarations beside the JavaScript, and every export condition points into dist/lib', async () => {
    const declarations = await readFile(join(outDir, 'index.d.ts'), 'utf8');
    expect(declarations).toContain('createRotationHandler');
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    for (const target of Object.values(pkg.exports) as Array<Record<string, string>>) {
      expect(target.default).toMatch(/^\.\/dist\/lib\/.*\.js$/);
      expect(target.types).toMatch(/^\.\/dist\/lib\/.*\.d\.ts$/);
    }
  });
});
