/**
 * The layering of docs/architecture.md#what-may-import-what, checked on every import of src (static,
 * `export … from` and `import()`), so a shortcut across layers fails here rather than in review.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

type Layer = 'entry' | 'core' | 'database' | 'adapters' | 'adapters/database' | 'testing' | 'client' | 'cli';

function layerOf(file: string): Layer {
  if (file === 'src/index.ts') return 'entry';
  const [, top, sub] = file.split('/');
  if (top === 'adapters') return sub === 'database' ? 'adapters/database' : 'adapters';
  if (top === 'core' || top === 'database' || top === 'testing' || top === 'client' || top === 'cli')
    return top;
  throw new Error(`${file} is in no layer of docs/architecture.md; add its folder there and here`);
}

// Which layers each layer may import; its own layer always.
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  entry: ['core'],
  core: [],
  database: ['core'],
  adapters: ['core', 'database', 'adapters/database'],
  'adapters/database': ['core', 'database', 'adapters'],
  testing: ['core'],
  client: ['core', 'database'],
  cli: ['core', 'database', 'testing', 'adapters'],
};

interface Import {
  readonly from: string;
  readonly to: string;
}

function sourceImports(): Import[] {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', 'src'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((file) => file.endsWith('.ts'));
  return files.flatMap((from) =>
    ts
      .preProcessFile(readFileSync(join(root, from), 'utf8'), true, true)
      .importedFiles.filter(({ fileName }) => fileName.startsWith('.'))
      .map(({ fileName }) => ({ from, to: normalize(join(dirname(from), fileName)) })),
  );
}

const imports = sourceImports();
const shown = (found: Import[]) => found.map(({ from, to }) => `${from} imports ${to}`);

describe('import rules', () => {
  it('finds the imports it checks', () => {
    expect(imports.length).toBeGreaterThan(200);
    expect(imports).toContainEqual({ from: 'src/index.ts', to: 'src/core/engine.ts' });
  });

  it('src/core imports nothing outside src/core', () => {
    expect(
      shown(imports.filter(({ from, to }) => from.startsWith('src/core/') && !to.startsWith('src/core/'))),
    ).toEqual([]);
  });

  it('src/adapters never imports src/cli or src/client', () => {
    const found = imports.filter(
      ({ from, to }) => from.startsWith('src/adapters/') && /^src\/(cli|client)\//.test(to),
    );
    expect(shown(found)).toEqual([]);
  });

  it('src/client never imports src/adapters', () => {
    const found = imports.filter(
      ({ from, to }) => from.startsWith('src/client/') && to.startsWith('src/adapters/'),
    );
    expect(shown(found)).toEqual([]);
  });

  it('src/cli reaches the adapters only through their entry points and src/adapters/internal.ts', () => {
    const found = imports.filter(
      ({ from, to }) =>
        from.startsWith('src/cli/') &&
        to.startsWith('src/adapters/') &&
        to !== 'src/adapters/internal.ts' &&
        !/^src\/adapters\/[^/]+\/index\.ts$/.test(to),
    );
    expect(shown(found)).toEqual([]);
  });

  it('every layer imports only the layers it may', () => {
    const found = imports.filter(({ from, to }) => {
      const [source, target] = [layerOf(from), layerOf(to)];
      return source !== target && !MAY_IMPORT[source].includes(target);
    });
    expect(shown(found)).toEqual([]);
  });
});
