// `--against=<git ref>`: the zips of an earlier commit, built from that commit's own sources, lock
// file and build script, so the bench can measure them beside this checkout's in the same run. A
// ratio to figures recorded on another day mixes the code's effect with the host's speed.
import { execFile } from 'node:child_process';
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// Kept between runs: installing and building an old commit takes a minute or two. Not under
// node_modules, where Node refuses to strip types from the commit's .ts build scripts.
const CACHE_DIR = join(tmpdir(), 'secrets-rotator-bench');

async function run(command, args, cwd) {
  try {
    return (await execFileAsync(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (error) {
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${output}`);
  }
}

const exists = (path) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Builds `ref`'s Lambda zips (once per commit; later runs reuse them) and resolves to
 * `{ commit, lambdas: [{ name, zipPath, zipBytes }] }`.
 */
export async function buildAgainst(ref) {
  let commit;
  try {
    commit = (await run('git', ['rev-parse', '--verify', `${ref}^{commit}`], REPO_ROOT)).trim();
  } catch {
    throw new Error(
      `--against=${ref}: no such commit in this checkout. Give a commit or tag from \`git log\`, e.g. --against=4a89991 (the code bench/baseline.json was recorded from).`,
    );
  }
  const dir = join(CACHE_DIR, `against-${commit.slice(0, 12)}`);
  const manifestPath = join(dir, 'dist', 'lambda', 'manifest.json');
  if (!(await exists(manifestPath))) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    // git archive: the commit's files only, no worktree registered in this repository. Through a
    // file rather than a pipe, so that a failing git archive is reported as itself.
    const archive = `${dir}.tar`;
    await run('git', ['archive', '--format=tar', '-o', archive, commit], REPO_ROOT);
    await run('tar', ['-xf', archive, '-C', dir], REPO_ROOT);
    await rm(archive);
    await run('npm', ['ci', '--no-audit', '--no-fund'], dir);
    await run('npm', ['run', 'build'], dir);
  }
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  const lambdas = Object.entries(manifest.lambdas).map(([name, entry]) => ({
    name,
    zipPath: join(dir, 'dist', 'lambda', entry.zip),
    zipBytes: entry.bytes,
  }));
  return { commit, lambdas };
}
