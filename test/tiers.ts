/**
 * The test tiers: `npm run test:unit`, `test:integration` and `test:faults`; `npm test` runs them all.
 * Faults is test/reliability. Unit is every other test file that starts no database, Redis or sshd
 * server and builds or installs nothing: found from what each file imports (directly or through
 * its helpers), so a new test lands in the right tier by itself. Integration is the rest.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';

export type Tier = 'unit' | 'integration' | 'faults';
export const TIERS: readonly Tier[] = ['unit', 'integration', 'faults'];

const ROOT = join(import.meta.dirname, '..');
const FAULTS = 'test/reliability/';

// Importing one of these means the test starts a server (or runs a built zip).
const SERVER_HELPERS = [
  'test/support/postgres.ts',
  'test/support/mariadb.ts',
  'test/support/redis.ts',
  'test/support/sshd.ts',
  'test/packaging/support/deployed-lambda.ts',
];

// Tests that build, pack or spawn the demo's embedded PostgreSQL without importing a helper above,
// or that take minutes: a folder (ending in /) or a file.
const NOT_UNIT = [
  'test/packaging/',
  'test/docs/runnable-blocks.test.ts',
  'test/docs/typecheck-blocks.test.ts',
  'test/cli/demo.test.ts',
  'test/cli/private-checkout.test.ts',
  'test/cli/rotate-all-scale.test.ts',
  'test/architecture/test-tiers.test.ts',
  'test/architecture/unused-exports.test.ts',
];

function testFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts') && !file.split('/').includes('node_modules'))
    .map((file) => `${folder}/${file}`);
}

function importsOf(file: string, seen = new Set<string>()): Set<string> {
  let text: string;
  try {
    text = readFileSync(join(ROOT, file), 'utf8');
  } catch {
    return seen;
  }
  for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
    const target = relative(ROOT, normalize(join(ROOT, dirname(file), fileName)));
    if (!fileName.startsWith('.') || seen.has(target)) continue;
    seen.add(target);
    importsOf(target, seen);
  }
  return seen;
}

function isUnit(file: string): boolean {
  if (file.startsWith(FAULTS) || NOT_UNIT.some((entry) => file === entry || file.startsWith(entry)))
    return false;
  const imported = importsOf(file);
  return !SERVER_HELPERS.some((helper) => imported.has(helper));
}

/** The test files of one tier, or of the whole suite when `tier` is undefined, sorted. */
export function tierFiles(tier?: Tier): string[] {
  const all = [...testFiles('test'), ...testFiles('examples')].sort();
  if (tier === 'faults') return all.filter((file) => file.startsWith(FAULTS));
  if (tier === 'unit') return all.filter(isUnit);
  if (tier === 'integration') return all.filter((file) => !file.startsWith(FAULTS) && !isUnit(file));
  return all;
}
