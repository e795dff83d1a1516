/**
 * The README's handler table and the adapter pages keep up with the code: every Lambda handler has
 * a row, and every adapter a page under docs/adapters.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { listHandlers, REPO_ROOT } from '../../scripts/build-lambdas.ts';

it('the README has a row for every handler of handlers/', async () => {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const table = readme.slice(
    readme.indexOf('## Handlers'),
    readme.indexOf('\n## ', readme.indexOf('## Handlers') + 1),
  );
  const rows = table.split('\n').filter((line) => line.startsWith('| ['));
  const missing = (await listHandlers()).filter(
    (handler) => !rows.some((row) => row.split('|')[1]!.includes(`\`${handler}\``)),
  );
  expect(missing, 'add them to the table under "## Handlers" in README.md').toEqual([]);
});

it('every adapter has a page under docs/adapters', async () => {
  const shared = new Set(['database']);
  const adapters = (await readdir(join(REPO_ROOT, 'src/adapters'), { withFileTypes: true }))
    .filter((entry) => entry.isDirectory() && !shared.has(entry.name))
    .map((entry) => entry.name);
  const pages = new Set(await readdir(join(REPO_ROOT, 'docs/adapters')));
  expect(adapters.length).toBeGreaterThan(0);
  expect(adapters.filter((adapter) => !pages.has(`${adapter}.md`))).toEqual([]);
});
