import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');

/** The test files vitest itself selects with `--mode <tier>` (no tier: the whole suite), as repository paths. */
async function listed(tier?: string): Promise<string[]> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')));
  const args = ['vitest', 'list', '--filesOnly', '--json', ...(tier ? ['--mode', tier] : [])];
  const { stdout } = await run(join(root, 'node_modules/.bin/vitest'), args.slice(1), { cwd: root, env });
  return (JSON.parse(stdout) as Array<{ file: string }>)
    .map(({ file }) => file.slice(root.length + 1))
    .sort();
}

it('puts every test file of npm test in exactly one tier', { timeout: 120_000 }, async () => {
  const [all, unit, integration, faults] = await Promise.all([
    listed(),
    listed('unit'),
    listed('integration'),
    listed('faults'),
  ]);
  expect([...unit, ...integration, ...faults].sort()).toEqual(all);
  expect(faults.every((file) => file.startsWith('test/reliability/'))).toBe(true);
  // A server test found in unit, or an engine test outside it, means the tiering went wrong.
  expect(unit).toContain('test/core/engine.test.ts');
  expect(integration).toEqual(
    expect.arrayContaining(['test/support-selftest/postgres.test.ts', 'test/cli/demo.test.ts']),
  );
  expect(unit.length).toBeGreaterThan(40);
});
