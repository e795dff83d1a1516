// Per handler, as deployed (the built zip in a fresh Node process started with the flags Lambda uses
// for a 128 MB function), against the local Secrets Manager endpoint and the real database or test
// API of test/packaging/support/fixtures.ts:
// - per rotation at 0 and 15 ms of Secrets Manager latency: the function's Secrets Manager calls,
//   its sequential round trips, database logins (ok / refused) and the time the function ran;
// - cold start beside a bare Node process started the same way, peak RSS over the first rotations,
//   RSS and the heap after a full collection as rotations go on in one warm process.
// bench/baseline.json holds an earlier run's figures; each figure is printed with its ratio to it.
// `npm run bench -- lambdas --save-baseline` replaces the baseline with this run.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLambdas } from '../scripts/build-lambdas.ts';
import { rotateSecret } from '../src/testing/index.ts';
import { sequentialRounds } from '../src/testing/rounds.ts';
import { LAMBDA_128MB_EXEC_ARGV, startDeployedLambda } from '../test/packaging/support/deployed-lambda.ts';
import { buildAgainst } from './against.mjs';
import { lambdaCpuShare } from './cpu-share.mjs';
import { readAtMarks, setUpDeployed } from './deployed-setup.mjs';

const BASELINE = join(dirname(fileURLToPath(import.meta.url)), 'baseline.json');
const COLD_STARTS = 7;
const LATENCIES_MS = [0, 15];
const CPU_SHARE_LATENCY_MS = 15;
const CPU_SHARE_MEMORY_MB = 128;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const fixed = (value, digits = 1) => Number(value.toFixed(digits));

/** `12.3 (0.50×)` against the baseline's figure, or the figure alone when there is none. */
function withRatio(value, base, digits = 1) {
  const shown = value.toFixed(digits);
  if (typeof base !== 'number' || base === 0) return shown;
  return `${shown} (${(value / base).toFixed(2)}×)`;
}

/** PostgreSQL writes its log through a pipe: give the last lines a moment to land before counting. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

/** A folder holding an index.mjs whose handler does nothing: bare Node, started as a function is. */
async function bareFunction(workDir) {
  const dir = join(workDir, 'bare-node');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'index.mjs'), 'export const handler = async () => {};\n');
  return dir;
}

/** Cold starts of the handler and of bare Node, alternated so that both see the same machine load. */
async function coldStarts(dir, bareDir, env) {
  const handler = [];
  const bare = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    for (const [into, from] of [
      [bare, bareDir],
      [handler, dir],
    ]) {
      const started = await startDeployedLambda({
        dir: from,
        env: { ...env, LAMBDA_TASK_ROOT: from },
        execArgv: LAMBDA_128MB_EXEC_ARGV,
      });
      into.push(started.coldStartMs);
      await started.close();
    }
  }
  return { handlerMs: median(handler), bareMs: median(bare) };
}

/** Rotations through a warm function, counting the function's own calls, rounds, logins and time. */
async function rotations(count, { deployed, sm, client, secretId, target, name }) {
  let calls = 0;
  let rounds = 0;
  let functionMs = 0;
  const counted = async (event, context) => {
    const before = sm.calls.length;
    const started = performance.now();
    try {
      await deployed.handler(event, context);
    } finally {
      functionMs += performance.now() - started;
      const own = sm.calls.slice(before);
      calls += own.length;
      rounds += sequentialRounds(own);
    }
  };
  const loginsBefore = target.logins ? await target.logins() : undefined;
  const cpuBefore = await deployed.cpuMs();
  for (let i = 0; i < count; i++) {
    const result = await rotateSecret({ client, secretId, handler: counted });
    if (!result.ok)
      throw new Error(`${name}: rotation ${i + 1} failed at ${result.failedStep}: ${result.error}`);
  }
  const cpuMs = (await deployed.cpuMs()) - cpuBefore;
  let logins;
  if (loginsBefore) {
    await settle();
    const after = await target.logins();
    logins = {
      ok: (after.ok - loginsBefore.ok) / count,
      refused: (after.failed - loginsBefore.failed) / count,
    };
  }
  return {
    calls: calls / count,
    rounds: rounds / count,
    ms: functionMs / count,
    cpuMs: cpuMs / count,
    logins,
  };
}

async function benchHandler(lambda, workDir, bareDir, options) {
  const name = lambda.name;
  const figures = { zipKb: fixed(lambda.zipBytes / 1024) };
  const setUp = await setUpDeployed(lambda, workDir, 'bench');
  if (!setUp) return { figures, note: 'no fixture in test/packaging/support/fixtures.ts: not measured' };
  const { dir, target, sm, client, secretId, env } = setUp;
  try {
    const cold = await coldStarts(dir, bareDir, env);
    figures.coldStartMs = fixed(cold.handlerMs);
    figures.bareNodeMs = fixed(cold.bareMs);
    const common = { sm, client, secretId, target, name };

    // Time and counts at each latency, in one warm function; latency is a delay on every call.
    const timed = await startDeployedLambda({ dir, env, execArgv: LAMBDA_128MB_EXEC_ARGV });
    try {
      figures.latency = {};
      for (const latencyMs of LATENCIES_MS) {
        sm.clearFaults();
        if (latencyMs > 0) sm.inject({ operation: '*', delayMs: latencyMs });
        const measured = await rotations(options.rotations, { ...common, deployed: timed });
        figures.latency[latencyMs] = {
          smCalls: fixed(measured.calls),
          rounds: fixed(measured.rounds),
          loginsOk: measured.logins ? fixed(measured.logins.ok) : undefined,
          loginsRefused: measured.logins ? fixed(measured.logins.refused) : undefined,
          ms: fixed(measured.ms),
          cpuMs: fixed(measured.cpuMs),
        };
      }
      // Last, since the process cannot leave the group: the same warm function held to the CPU share
      // Lambda gives 128 MB, at 15 ms.
      if (options.cpuShare) {
        await options.cpuShare.hold(timed.pid);
        sm.inject({ operation: '*', delayMs: CPU_SHARE_LATENCY_MS });
        const measured = await rotations(options.rotations, { ...common, deployed: timed });
        figures.atCpuShare = { ms: fixed(measured.ms), cpuMs: fixed(measured.cpuMs) };
      }
      sm.clearFaults();
    } finally {
      await timed.close();
    }

    // The build measured for comparison (--against) needs only its peak over the first mark.
    if (options.peakOnly) {
      const [first] = options.memoryRotations;
      const early = await memoryOverRotations([first], { dir, env, common, reduce: false });
      figures.peakRssMb = fixed(early[first].maxRssKb / 1024);
      return { figures };
    }

    // Memory of another warm function as it rotates on, at 0 ms latency; what it keeps is read in a
    // third one, since V8's memory-reducing collection changes how the process goes on.
    const asItRuns = await memoryOverRotations(options.memoryRotations, { dir, env, common, reduce: false });
    const kept = await memoryOverRotations(options.memoryRotations, { dir, env, common, reduce: true });
    figures.peakRssMb = fixed(asItRuns[options.memoryRotations[0]].maxRssKb / 1024);
    figures.memory = {};
    for (const mark of options.memoryRotations) {
      const memory = asItRuns[mark];
      figures.memory[mark] = {
        rssMb: fixed(memory.rssKb / 1024),
        heapAfterGcMb: fixed(memory.heapAfterGcKb / 1024, 2),
        youngGenerationMb: fixed(memory.youngGenerationKb / 1024),
        keptRssMb: fixed(kept[mark].keptRssKb / 1024),
        keptHeapMb: fixed(kept[mark].keptHeapKb / 1024, 2),
      };
    }
    return { figures };
  } finally {
    await setUp.close();
  }
}

/** A fresh warm function's memory after each mark's number of rotations (DeployedMemory by mark). */
function memoryOverRotations(marks, { dir, env, common, reduce }) {
  return readAtMarks({
    dir,
    env,
    marks,
    rotate: (deployed, count) => rotations(count, { ...common, deployed }),
    read: (deployed) => deployed.memory({ reduce }),
  });
}

const growth = (from, to) => `${to >= from ? '+' : ''}${(((to - from) / from) * 100).toFixed(1)} %`;

/** One handler's row of the memory-over-time table. */
function memoryRow(name, memory, was, marks) {
  // Growth from the first mark to the second: the goal compares 20 and 200 rotations.
  const [from, to = from] = marks;
  const row = { handler: name };
  for (const mark of marks) row[`RSS MB @${mark}`] = memory[mark].rssMb.toFixed(1);
  row[`RSS ${from}→${to}`] = growth(memory[from].rssMb, memory[to].rssMb);
  for (const mark of marks) row[`young gen MB @${mark}`] = memory[mark].youngGenerationMb.toFixed(1);
  for (const mark of marks) {
    row[`heap after GC MB @${mark}`] = withRatio(memory[mark].heapAfterGcMb, was?.[mark]?.heapAfterGcMb, 2);
  }
  for (const mark of marks) row[`kept RSS MB @${mark}`] = memory[mark].keptRssMb.toFixed(1);
  row[`kept RSS ${from}→${to}`] = growth(memory[from].keptRssMb, memory[to].keptRssMb);
  for (const mark of marks) row[`kept heap MB @${mark}`] = memory[mark].keptHeapMb.toFixed(2);
  return row;
}

async function readBaseline() {
  try {
    return JSON.parse(await readFile(BASELINE, 'utf8'));
  } catch {
    return undefined;
  }
}

export default async function bench(options) {
  const workDir = await mkdtemp(join(tmpdir(), 'bench-lambdas-'));
  const baseline = await readBaseline();
  const share = options.lambdaCpu ? await lambdaCpuShare(CPU_SHARE_MEMORY_MB) : undefined;
  // benchHandler finds the group in its options; without one, share.unavailable says why.
  const cpuShare = share?.hold ? share : undefined;
  options = { ...options, cpuShare };
  try {
    const build = await buildLambdas({ outDir: join(workDir, 'dist'), enforceBudgets: false });
    const against = options.against ? await buildAgainst(options.against) : undefined;
    const bareDir = await bareFunction(workDir);
    // One handler failing (a bug to fix, not a figure) leaves the others' figures standing.
    const measure = (lambda, dir, handlerOptions) =>
      benchHandler(lambda, join(workDir, dir), bareDir, handlerOptions).catch((error) => ({
        figures: { zipKb: fixed(lambda.zipBytes / 1024) },
        note: `not measured: ${String(error?.message ?? error)
          .split('\n')[0]
          .slice(0, 160)}`,
      }));
    const results = {};
    const againstResults = {};
    const unknown = options.handlers?.filter((name) => !build.lambdas.some((lambda) => lambda.name === name));
    if (unknown?.length) {
      throw new Error(
        `--handlers: no handler named ${unknown.join(', ')}; the handlers are ${build.lambdas.map((lambda) => lambda.name).join(', ')}`,
      );
    }
    const chosen = build.lambdas.filter(
      (lambda) => !options.handlers || options.handlers.includes(lambda.name),
    );
    for (const lambda of chosen) {
      // The earlier commit's zip right before this one's, so that both meet the same machine load.
      const earlier = against?.lambdas.find((candidate) => candidate.name === lambda.name);
      if (earlier) {
        againstResults[lambda.name] = await measure(earlier, 'against', { ...options, peakOnly: true });
      }
      results[lambda.name] = await measure(lambda, 'this', options);
    }

    // With --against, ratios are to the earlier commit measured in this run; otherwise to baseline.json.
    const base = (name) => (against ? againstResults[name]?.figures : baseline?.handlers?.[name]);
    const perRotation = [];
    const process = [];
    const memoryOverTime = [];
    for (const [name, { figures, note }] of Object.entries(results)) {
      const was = base(name);
      if (note) {
        process.push({ handler: name, 'zip KB': figures.zipKb, note });
        continue;
      }
      for (const latencyMs of LATENCIES_MS) {
        const now = figures.latency[latencyMs];
        const then = was?.latency?.[latencyMs];
        perRotation.push({
          handler: name,
          'latency ms': latencyMs,
          'SM calls': withRatio(now.smCalls, then?.smCalls),
          'SM rounds': withRatio(now.rounds, then?.rounds),
          'DB logins ok': now.loginsOk === undefined ? undefined : now.loginsOk.toFixed(1),
          'DB refused': now.loginsRefused === undefined ? undefined : now.loginsRefused.toFixed(1),
          'function ms': withRatio(now.ms, then?.ms),
          'CPU ms': withRatio(now.cpuMs, then?.cpuMs),
        });
      }
      if (figures.atCpuShare) {
        const then = was?.atCpuShare;
        perRotation.push({
          handler: name,
          'latency ms': `${CPU_SHARE_LATENCY_MS} @${CPU_SHARE_MEMORY_MB} MB CPU`,
          'function ms': withRatio(figures.atCpuShare.ms, then?.ms),
          'CPU ms': withRatio(figures.atCpuShare.cpuMs, then?.cpuMs),
        });
      }
      const marks = options.memoryRotations;
      const row = {
        handler: name,
        'zip KB': withRatio(figures.zipKb, was?.zipKb),
        'cold ms': withRatio(figures.coldStartMs, was?.coldStartMs),
        'bare node ms': figures.bareNodeMs.toFixed(1),
        'cold − bare ms': withRatio(
          figures.coldStartMs - figures.bareNodeMs,
          was?.coldStartMs === undefined ? undefined : was.coldStartMs - was.bareNodeMs,
        ),
        [`peak RSS MB @${marks[0]}`]: withRatio(figures.peakRssMb, was?.peakRssMb),
      };
      process.push(row);
      memoryOverTime.push(memoryRow(name, figures.memory, was?.memory, marks));
    }

    const environment = `Node ${globalThis.process.version} on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}`;
    if (options.saveBaseline) {
      const handlers = Object.fromEntries(
        Object.entries(results).map(([name, { figures }]) => [name, figures]),
      );
      await writeFile(
        BASELINE,
        `${JSON.stringify({ recorded: new Date().toISOString(), environment, options, handlers }, null, 2)}\n`,
      );
    }
    const againstNotes = Object.entries(againstResults)
      .filter(([, result]) => result.note)
      .map(([name, result]) => `${name} at ${against.commit.slice(0, 12)}: ${result.note}`);
    const comparedTo = against
      ? `(×) ratio to commit ${against.commit.slice(0, 12)} (--against=${options.against}), built from its own sources and measured in this run, each handler right before this checkout's.`
      : baseline
        ? `(×) ratio to bench/baseline.json, recorded ${baseline.recorded}${options.saveBaseline ? ' (now replaced by this run)' : ''}.`
        : 'No bench/baseline.json yet: run with --save-baseline to record one.';
    return {
      tables: [
        {
          title: `Per rotation, as deployed at 128 MB (mean of ${options.rotations} rotations per latency)`,
          rows: perRotation,
          notes: [
            '',
            `${environment}; Secrets Manager endpoint and databases on loopback, latency injected on every call.`,
            "SM calls: the function's own requests (PASSWORD_GENERATOR=service: createSecret includes GetRandomPassword).",
            'SM rounds: sequential round trips, calls in flight together counted once (at 0 ms overlap is rarely seen).',
            'DB logins: counted by the server (PostgreSQL log_connections; MariaDB Connections/Aborted_connects).',
            'function ms: time inside the function per rotation (its four invocations), what Lambda bills.',
            "CPU ms: CPU time of the function's process per rotation (all threads, user and system).",
            ...(options.lambdaCpu
              ? [
                  options.cpuShare
                    ? `@${CPU_SHARE_MEMORY_MB} MB CPU: the warm function held to the CPU Lambda gives ${CPU_SHARE_MEMORY_MB} MB (one vCPU at 1,769 MB), ${options.cpuShare.description}.`
                    : `@${CPU_SHARE_MEMORY_MB} MB CPU: not measured: ${share.unavailable}.`,
                ]
              : []),
            comparedTo,
            ...againstNotes,
          ],
        },
        {
          title: `Cold start and memory at Lambda's 128 MB flags (${LAMBDA_128MB_EXEC_ARGV.join(' ')})`,
          rows: process,
          notes: [
            '',
            `cold: fresh process until index.mjs is imported and the handler created (median of ${COLD_STARTS});`,
            '  bare node: the same runner and flags with an empty handler, alternated with the handler.',
            `peak RSS: the maxRSS of one warm function process (0 ms latency) over its first ${options.memoryRotations[0]} rotations.`,
            comparedTo,
          ],
        },
        {
          title: `Memory over time: one warm function process at the 128 MB flags, 0 ms latency`,
          rows: memoryOverTime,
          notes: [
            '',
            'RSS, heap after GC: after that many rotations, read after gc() (--expose-gc); RSS a→b: growth between two marks.',
            "young gen: V8's young generation as sized by then. It grows as objects survive collections, up to",
            '  --max-semi-space-size, and V8 gives it back only under memory pressure: most of the RSS growth.',
            "kept RSS, kept heap: right after, V8's memory-reducing collection (gc flavor 'last-resort', what V8",
            '  runs under memory pressure): the young generation shrinks back and empty pages are returned, so',
            '  what is left is what the function holds (read in a third process, so the other figures do not feel it).',
            comparedTo,
          ],
        },
      ],
    };
  } finally {
    await cpuShare?.close();
    await rm(workDir, { recursive: true, force: true });
  }
}
