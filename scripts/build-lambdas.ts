/**
 * Builds one deployable Lambda zip per file of `handlers/`: `dist/lambda/<name>.zip` holding a single
 * `index.mjs` that exports `handler`, bundled by esbuild for the `nodejs22.x` runtime with every
 * dependency inside (the AWS SDK included: the SDK version Lambda ships is not pinned, so bundling is
 * what makes a build reproducible). Licence notes stay beside the zip, not in it. Source maps hold
 * the full sources, so they go to a separate folder, `dist/lambda-source-maps-do-not-upload/`, that
 * a "deploy everything in dist/lambda" step never picks up.
 *
 * Two builds of the same tree give byte-identical zips: esbuild's output depends only on its inputs
 * (the build runs against a fixed virtual output directory whatever the real destination is), and
 * the zip has one entry with a fixed timestamp, permissions and compression level.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { LAMBDA_ONLY_NAMESPACE } from '../src/cli/lambda-slimming.ts';
import {
  checkSourceMapDir,
  LAMBDA_HANDLER,
  LAMBDA_RUNTIME,
  LEFT_OUT_NAMESPACE,
  lambdaBundleOptions,
  sourceMapDirFor,
  THROUGH_REQUIRE_NAMESPACE,
  zipFiles,
} from '../src/cli/lambda-zip.ts';

export { LAMBDA_HANDLER, LAMBDA_RUNTIME, LEFT_OUT_MODULES, sourceMapDirFor } from '../src/cli/lambda-zip.ts';

/** The repository root (this file lives in `scripts/`). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The files a build writes into its output directory (source maps only in older builds). */
const BUILD_OUTPUT = /^(manifest\.json|[\w.-]+\.(zip|index\.mjs\.map|licenses\.txt))$/;

/** The files a build writes into its source-map directory. */
const SOURCE_MAP_OUTPUT = /^[\w.-]+\.mjs\.map$/;

const SECRETS_MANAGER_COMMAND = /@aws-sdk\/client-secrets-manager\/dist-\w+\/commands\/(\w+)Command\.js$/;

/** `import { …Command … } from '@aws-sdk/client-rds'` in our own source. */
const RDS_IMPORT = /import\s*\{([^}]*)\}\s*from\s*['"]@aws-sdk\/client-rds['"]/g;

/** Options of {@link buildLambdas}. */
export interface BuildLambdasOptions {
  /** Where the zips and manifest go. Default `dist/lambda` in the repository. */
  readonly outDir?: string;
  /** Where the source maps go. Default {@link sourceMapDirFor}(outDir), never inside `outDir`. */
  readonly sourceMapDir?: string;
  /** The folder of handler entry files. Default `handlers/` in the repository. */
  readonly handlersDir?: string;
  /** Build only these handlers (names without extension). Default: every file of `handlersDir`. */
  readonly only?: readonly string[];
  /** Throw when a zip is over its budget (default true). The zips are written either way. */
  readonly enforceBudgets?: boolean;
}

/** What contributes to a bundle, per package (or `(project)` for our own source). */
export interface BundleContributor {
  readonly name: string;
  /** The package's folder relative to the repository (absent for our own source). */
  readonly dir?: string;
  /** Bytes of minified output attributed to this package by esbuild's metafile. */
  readonly bytes: number;
}

/** One built handler. */
export interface BuiltLambda {
  /** The handler's name: its file name in `handlers/` without extension. */
  readonly name: string;
  readonly zipPath: string;
  readonly sourceMapPath: string;
  /** The files in the zip: `index.mjs` first, then the chunks it imports on first use. */
  readonly files: readonly string[];
  /** Size of the zip in bytes (what the budget limits). */
  readonly zipBytes: number;
  /** sha256 of the zip, hex. */
  readonly sha256: string;
  /** Size of `index.mjs` inside the zip. */
  readonly indexBytes: number;
  /** Size of all the code inside the zip, unzipped. */
  readonly codeBytes: number;
  readonly budgetBytes: number;
  /** The largest contributors to `index.mjs`, biggest first. */
  readonly contributors: readonly BundleContributor[];
  /** Our own source files bundled in (paths relative to the repository), sorted. */
  readonly projectInputs: readonly string[];
  /** The Secrets Manager operations whose command module is in the bundle (from esbuild's metafile), sorted. */
  readonly secretsManagerOperations: readonly string[];
  /**
   * The RDS operations our bundled source sends (the master rule's lookups), sorted. Read from the
   * source's imports: the client is imported lazily, which keeps every command module of the
   * package in the bundle, so the bundle cannot tell which are called.
   */
  readonly rdsOperations: readonly string[];
}

/** The outcome of {@link buildLambdas}. */
export interface BuildResult {
  readonly outDir: string;
  readonly manifestPath: string;
  readonly lambdas: readonly BuiltLambda[];
  /** Handlers whose zip is over budget (empty when all fit). */
  readonly overBudget: readonly BuiltLambda[];
}

/** The size budgets: a default and per-handler exceptions, each with its reason. */
export interface Budgets {
  readonly defaultBytes: number;
  readonly handlers: Readonly<Record<string, { readonly bytes: number; readonly why: string }>>;
}

/**
 * The handler names in `handlersDir`: every `.ts`, `.mts`, `.js` or `.mjs` file, sorted.
 *
 * @example
 * ```ts
 * listHandlers(); // ['postgres-single-user', 'random-secret', ...]
 * ```
 */
export async function listHandlers(handlersDir = join(REPO_ROOT, 'handlers')): Promise<string[]> {
  const entries = await readdir(handlersDir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && /\.(m?ts|m?js)$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
    .map((entry) => basename(entry.name, extname(entry.name)))
    .sort();
}

/**
 * The budgets of `scripts/bundle-budgets.json`.
 *
 * @example
 * ```ts
 * const budgets = await readBudgets();
 * budgetFor(budgets, 'random-secret'); // 409600
 * ```
 */
export async function readBudgets(
  path = join(REPO_ROOT, 'scripts', 'bundle-budgets.json'),
): Promise<Budgets> {
  const raw = JSON.parse(await readFile(path, 'utf8')) as {
    defaultBytes?: unknown;
    handlers?: Record<string, { bytes?: unknown; why?: unknown }>;
  };
  if (typeof raw.defaultBytes !== 'number' || raw.defaultBytes <= 0) {
    throw new Error(`${path}: "defaultBytes" must be a positive number of bytes`);
  }
  const handlers: Record<string, { bytes: number; why: string }> = {};
  for (const [name, entry] of Object.entries(raw.handlers ?? {})) {
    if (typeof entry.bytes !== 'number' || typeof entry.why !== 'string' || entry.why.trim() === '') {
      throw new Error(
        `${path}: handlers["${name}"] needs "bytes" (a number) and "why" (the reason it exceeds the default)`,
      );
    }
    handlers[name] = { bytes: entry.bytes, why: entry.why };
  }
  return { defaultBytes: raw.defaultBytes, handlers };
}

/**
 * The budget of one handler: its exception if it has one, else the default.
 *
 * @example
 * ```ts
 * budgetFor({ defaultBytes: 409600, handlers: {} }, 'random-secret'); // 409600
 * ```
 */
export function budgetFor(budgets: Budgets, name: string): number {
  return budgets.handlers[name]?.bytes ?? budgets.defaultBytes;
}

/**
 * Bundles and zips every handler, writes `manifest.json` (each zip's size and sha256) and returns
 * what it built. Throws after writing when a zip is over budget, unless `enforceBudgets` is false.
 *
 * @example
 * ```ts
 * const { lambdas } = await buildLambdas({ outDir: '/tmp/build-a' });
 * lambdas[0]; // { name: 'random-secret', zipBytes: 123456, sha256: '…', … }
 * ```
 */
export async function buildLambdas(options: BuildLambdasOptions = {}): Promise<BuildResult> {
  const outDir = resolve(options.outDir ?? join(REPO_ROOT, 'dist', 'lambda'));
  const sourceMapDir = resolve(options.sourceMapDir ?? sourceMapDirFor(outDir));
  checkSourceMapDir(outDir, sourceMapDir);
  const handlersDir = resolve(options.handlersDir ?? join(REPO_ROOT, 'handlers'));
  const available = await listHandlers(handlersDir);
  const names = options.only ? [...options.only].sort() : available;
  for (const name of names) {
    if (!available.includes(name)) {
      throw new Error(
        `No handler "${name}" in ${handlersDir}; handlers there: ${available.join(', ') || '(none)'}`,
      );
    }
  }
  const entryFiles = await handlerFiles(handlersDir);
  const budgets = await readBudgets();

  // The virtual output directory: fixed, so nothing in the output depends on where it is written.
  // One build per handler: what a handler imports dynamically becomes a chunk of its own zip, loaded
  // on first use and tree-shaken (a lazy module inlined into one file keeps all of its code).
  const virtualOut = join(REPO_ROOT, 'dist', '.esbuild');
  const results = await Promise.all(
    names.map((name) =>
      esbuild.build({
        absWorkingDir: REPO_ROOT,
        entryPoints: [{ in: entryFiles.get(name)!, out: 'index' }],
        outdir: join(virtualOut, name),
        ...lambdaBundleOptions(),
        splitting: true,
        chunkNames: '[name]-[hash]',
        write: false,
      }),
    ),
  );

  await mkdir(outDir, { recursive: true });
  await mkdir(sourceMapDir, { recursive: true });
  // A full build removes what earlier builds left (only files of the kinds it writes), so a removed
  // handler leaves no stale zip behind.
  if (!options.only) {
    for (const entry of await readdir(outDir)) {
      if (BUILD_OUTPUT.test(entry)) await rm(join(outDir, entry), { force: true });
    }
    for (const entry of await readdir(sourceMapDir)) {
      if (SOURCE_MAP_OUTPUT.test(entry)) await rm(join(sourceMapDir, entry), { force: true });
    }
  }
  const lambdas: BuiltLambda[] = [];
  for (const [position, name] of names.entries()) {
    const result = results[position]!;
    const reachable = reachableOutputs(
      result.metafile,
      relative(REPO_ROOT, join(virtualOut, name, 'index.mjs')),
    );
    const code = result.outputFiles
      .filter((output) => reachable.has(relative(REPO_ROOT, output.path)))
      .map((output) => ({ name: basename(output.path), output }))
      .sort((a, b) =>
        a.name === 'index.mjs' ? -1 : b.name === 'index.mjs' ? 1 : a.name.localeCompare(b.name),
      );
    const index = code[0]?.name === 'index.mjs' ? code[0].output : undefined;
    if (!index) throw new Error(`esbuild produced no index.mjs for handler "${name}"`);
    assertExportsHandler(name, result.metafile, relative(REPO_ROOT, index.path));

    const zip = await zipFiles(code.map((file) => ({ name: file.name, contents: file.output.contents })));
    const zipPath = join(outDir, `${name}.zip`);
    await writeFile(zipPath, zip);
    for (const file of code) {
      const map = result.outputFiles.find((output) => output.path === `${file.output.path}.map`);
      if (map) await writeFile(join(sourceMapDir, `${name}.${file.name}.map`), map.contents);
    }
    const inputs = bundledInputs([...reachable].map((path) => result.metafile.outputs[path]!));
    const parts = contributors(inputs);
    await writeFile(join(outDir, `${name}.licenses.txt`), await licenceList(name, parts));
    const projectInputs = Object.keys(inputs)
      .filter((input) => !input.includes('node_modules/') && pluginNamespaceOf(input) === undefined)
      .sort();

    lambdas.push({
      name,
      zipPath,
      sourceMapPath: join(sourceMapDir, `${name}.index.mjs.map`),
      files: code.map((file) => file.name),
      zipBytes: zip.length,
      sha256: createHash('sha256').update(zip).digest('hex'),
      indexBytes: index.contents.length,
      codeBytes: code.reduce((total, file) => total + file.output.contents.length, 0),
      budgetBytes: budgetFor(budgets, name),
      contributors: parts,
      projectInputs,
      secretsManagerOperations: operationsIn(inputs, SECRETS_MANAGER_COMMAND),
      rdsOperations: await rdsOperationsImported(projectInputs),
    });
  }

  const manifestPath = join(outDir, 'manifest.json');
  await writeFile(manifestPath, `${JSON.stringify(manifest(lambdas), null, 2)}\n`);
  const overBudget = lambdas.filter((lambda) => lambda.zipBytes > lambda.budgetBytes);
  if (overBudget.length > 0 && options.enforceBudgets !== false) {
    const lines = overBudget.map(
      (lambda) => `  ${lambda.name}: ${kb(lambda.zipBytes)} > budget ${kb(lambda.budgetBytes)}`,
    );
    throw new Error(
      `Lambda zips over their size budget (scripts/bundle-budgets.json):\n${lines.join('\n')}\n` +
        'Find what grew with the contributors table of `npm run build`; raise a budget only with a reason.',
    );
  }
  return { outDir, manifestPath, lambdas, overBudget };
}

/** The content of `manifest.json`: deterministic (sorted, no dates). */
function manifest(lambdas: readonly BuiltLambda[]) {
  const entries = [...lambdas]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((lambda) => [
      lambda.name,
      {
        zip: basename(lambda.zipPath),
        bytes: lambda.zipBytes,
        sha256: lambda.sha256,
        indexBytes: lambda.indexBytes,
        budgetBytes: lambda.budgetBytes,
        // File name only, in the source-map folder (not in this one): see sourceMapDirFor.
        sourceMap: basename(lambda.sourceMapPath),
        files: lambda.files,
        secretsManagerOperations: lambda.secretsManagerOperations,
        rdsOperations: lambda.rdsOperations,
      },
    ]);
  return { runtime: LAMBDA_RUNTIME, handler: LAMBDA_HANDLER, lambdas: Object.fromEntries(entries) };
}

/** The RDS commands imported by our own source files (paths relative to the repository), sorted. */
async function rdsOperationsImported(files: readonly string[]): Promise<string[]> {
  const operations = new Set<string>();
  for (const file of files) {
    const text = await readFile(join(REPO_ROOT, file), 'utf8');
    for (const [, names] of text.matchAll(RDS_IMPORT)) {
      for (const name of names!.split(',')) {
        const operation = /^\s*(?:type\s+)?(\w+)Command\s*$/.exec(name)?.[1];
        if (operation) operations.add(operation);
      }
    }
  }
  return [...operations].sort();
}

/** The operations of one AWS client whose command modules contributed to a bundle, sorted. */
function operationsIn(inputs: BundledInputs, command: RegExp): string[] {
  return Object.entries(inputs)
    .filter(([, { bytesInOutput }]) => bytesInOutput > 0)
    .map(([input]) => command.exec(input)?.[1])
    .filter((operation): operation is string => operation !== undefined)
    .sort();
}

async function handlerFiles(handlersDir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(handlersDir)) {
    if (!/\.(m?ts|m?js)$/.test(entry) || entry.endsWith('.d.ts')) continue;
    const name = basename(entry, extname(entry));
    if (files.has(name))
      throw new Error(`Two handler files are named "${name}" in ${handlersDir}; rename one`);
    files.set(name, join(handlersDir, entry));
  }
  return files;
}

/** A handler file that does not export `handler` would deploy and then fail at every invocation: refuse it here. */
function assertExportsHandler(name: string, metafile: esbuild.Metafile, outputPath: string): void {
  const exports = metafile.outputs[outputPath]?.exports ?? [];
  if (!exports.includes('handler')) {
    throw new Error(
      `handlers/${name}: the bundle exports ${exports.length ? exports.join(', ') : 'nothing'}, not "handler"; ` +
        'export the function Lambda calls as `export const handler = createRotationHandler(...)`',
    );
  }
}

type BundledInputs = esbuild.Metafile['outputs'][string]['inputs'];

/**
 * The outputs index.mjs loads, at once or on first use. esbuild makes a chunk for every `import()`
 * it parses, even one in code it then drops as unused: such a chunk is not in the zip.
 */
function reachableOutputs(metafile: esbuild.Metafile, indexPath: string): Set<string> {
  const reachable = new Set<string>();
  const pending = [indexPath];
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    const output = metafile.outputs[path];
    if (reachable.has(path) || !output) continue;
    reachable.add(path);
    for (const imported of output.imports) if (!imported.external) pending.push(imported.path);
  }
  return reachable;
}

/** Every input of a build with the bytes it left in all of its outputs (index.mjs and its chunks). */
function bundledInputs(outputs: readonly esbuild.Metafile['outputs'][string][]): BundledInputs {
  const inputs: Record<string, { bytesInOutput: number }> = {};
  for (const output of outputs) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      inputs[input] = { bytesInOutput: (inputs[input]?.bytesInOutput ?? 0) + bytesInOutput };
    }
  }
  return inputs;
}

/** Bytes of the output per package, from esbuild's metafile. */
function contributors(inputs: BundledInputs): BundleContributor[] {
  const totals = new Map<string, { name: string; dir?: string; bytes: number }>();
  for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
    const namespace = pluginNamespaceOf(input);
    const dir = namespace === undefined ? packageDirOf(input) : undefined;
    const key =
      namespace === LEFT_OUT_NAMESPACE
        ? '(left-out stubs)'
        : (dir ?? (namespace ? `(${namespace})` : '(project)'));
    const entry = totals.get(key) ?? {
      name: dir ? packageOf(input) : key,
      ...(dir ? { dir } : {}),
      bytes: 0,
    };
    entry.bytes += bytesInOutput;
    totals.set(key, entry);
  }
  return [...totals.values()]
    .filter((entry) => entry.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
}

/** One line per bundled package: name, version and licence, as its package.json states them. */
async function licenceList(name: string, parts: readonly BundleContributor[]): Promise<string> {
  const lines = [`Packages bundled into ${name}.zip (index.mjs), with the licence each declares:`, ''];
  for (const part of [...parts].sort((a, b) => a.name.localeCompare(b.name))) {
    if (part.dir === undefined) continue;
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, part.dir, 'package.json'), 'utf8')) as {
      version?: string;
      license?: string;
    };
    lines.push(`${part.name}@${pkg.version ?? '?'} ${pkg.license ?? '(no licence field)'}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The namespace of an input our esbuild plugins made up (`left-out:…`), not a file on disk. */
function pluginNamespaceOf(input: string): string | undefined {
  const namespace = /^([\w-]+):/.exec(input)?.[1];
  return namespace &&
    [LEFT_OUT_NAMESPACE, THROUGH_REQUIRE_NAMESPACE, LAMBDA_ONLY_NAMESPACE].includes(namespace)
    ? namespace
    : undefined;
}

/** The package an input file belongs to: the innermost node_modules folder's package (nested copies included). */
function packageOf(input: string): string {
  const matches = [...input.matchAll(/(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/g)];
  return matches.at(-1)?.[1] ?? '(project)';
}

function packageDirOf(input: string): string | undefined {
  const matches = [...input.matchAll(/(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/g)];
  const last = matches.at(-1);
  return last ? input.slice(0, last.index + last[0].length) : undefined;
}

/** `123.4 KB` (1 KB = 1024 bytes). */
export function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}
