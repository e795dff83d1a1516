/**
 * Every command block the docs mark with `<!-- test: run -->` runs here as written, so a recipe
 * cannot rot: in an empty temporary directory, with `npx secrets-rotator` resolving to this
 * checkout, no AWS settings from the machine (the block sets its own dummy ones), npm offline, and
 * one substitution: the local endpoint's port 4566 becomes a free port, so runs in parallel do not
 * collide. A block passes when bash exits 0 (it runs with `set -euo pipefail`).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-lambdas.ts';
import { freePort } from '../support/ports.ts';
import { markdownFiles, type RunnableBlock, runnableBlocks } from './support/markdown.ts';

const documents = () => markdownFiles(['README.md', 'CONTRIBUTING.md', 'SECURITY.md']);

async function collectBlocks(): Promise<RunnableBlock[]> {
  const blocks: RunnableBlock[] = [];
  for (const file of await documents()) {
    const text = await readFile(join(REPO_ROOT, file), 'utf8').catch(() => undefined);
    if (text !== undefined) blocks.push(...runnableBlocks(file, text));
  }
  return blocks;
}

const installed = (command: string) =>
  new Promise<boolean>((resolve) => {
    spawn('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).on('exit', (code) =>
      resolve(code === 0),
    );
  });

/** The environment a newcomer's shell would have, minus anything AWS from this machine. */
function cleanEnvironment(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^AWS_/.test(name) && !/^npm_/i.test(name)) env[name] = value;
  }
  return {
    ...env,
    HOME: home,
    PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH}`,
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
  };
}

interface BlockRun {
  readonly code: number | null;
  readonly output: string;
}

async function runBlock(block: RunnableBlock): Promise<BlockRun> {
  const dir = await mkdtemp(join(tmpdir(), 'docs-block-'));
  try {
    // `npx secrets-rotator` finds this checkout's command, as in a project that installed the package.
    await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
    await symlink(
      join(REPO_ROOT, 'bin', 'secrets-rotator.mjs'),
      join(dir, 'node_modules', '.bin', 'secrets-rotator'),
    );
    await writeFile(join(dir, 'package.json'), '{ "name": "docs-block", "private": true }\n');
    const port = String(await freePort());
    const script = `set -euo pipefail\n${block.code.replaceAll('4566', port)}\n`;
    const child = spawn('bash', ['-c', script], { cwd: dir, env: cleanEnvironment(dir), detached: true });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    // Whatever the block left running in the background (an endpoint it forgot to stop) goes too.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
    return { code, output };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const blocks = await collectBlocks();

describe('runnable command blocks in the docs', () => {
  it('there are some (README.md and docs/ mark their recipes)', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  for (const block of blocks) {
    const name = `${block.file}:${block.line} runs as written`;
    it(name, { timeout: 180_000 }, async (context) => {
      for (const command of block.requires) {
        if (!(await installed(command))) context.skip(`${command} is not installed`);
      }
      const run = await runBlock(block);
      expect(
        run.code,
        `${relative(REPO_ROOT, join(REPO_ROOT, block.file))}:${block.line}\n${run.output}`,
      ).toBe(0);
    });
  }
});

describe('finding runnable blocks', () => {
  it('takes the fence after a marker, with its requirements, and refuses a marker without a fence', () => {
    const markdown = ['<!-- test: run requires=aws -->', '```sh', 'echo one', '```', 'text'].join('\n');
    expect(runnableBlocks('x.md', markdown)).toEqual([
      { file: 'x.md', line: 2, code: 'echo one', requires: ['aws'] },
    ]);
    expect(() => runnableBlocks('y.md', '<!-- test: run -->\n\n```sh\necho\n```')).toThrow(
      'y.md:1: "test: run" must be followed by a ```sh fence',
    );
  });
});
