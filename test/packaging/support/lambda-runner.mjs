// Plays the Lambda nodejs22.x runtime for one unpacked zip: imports LAMBDA_TASK_ROOT/index.mjs (the
// init phase: handler creation reads the environment and may fail), then runs one invocation at a
// time as the parent asks over IPC, with a Lambda-like context whose deadline is real. Deliberately
// plain JavaScript with no imports from the project: the bundle must stand on its own.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const taskRoot = process.env.LAMBDA_TASK_ROOT ?? process.cwd();

function describe(error) {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'NonError', message: String(error) };
}

function send(message) {
  if (process.connected) process.send(message);
}

let handler;
const initStarted = performance.now();
try {
  const module = await import(pathToFileURL(join(taskRoot, 'index.mjs')).href);
  if (typeof module.handler !== 'function') {
    throw new TypeError(
      `index.mjs exports ${Object.keys(module).join(', ') || 'nothing'}, not a function "handler"`,
    );
  }
  handler = module.handler;
} catch (error) {
  send({ type: 'init-error', error: describe(error) });
  process.exitCode = 1;
  process.disconnect?.();
}

if (handler) {
  let queue = Promise.resolve();
  process.on('message', (message) => {
    queue = queue.then(() => handle(message));
  });
  send({ type: 'ready', initMs: performance.now() - initStarted });
}

/**
 * Linux's VmHWM: the peak of this program's own memory. getrusage's maxRSS is no use here: Linux
 * carries it over exec, so a forked child reports at least the parent's size at the fork.
 */
function peakRssKb() {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    // Not Linux: fall back to maxRSS.
  }
  return process.resourceUsage().maxRSS;
}

async function handle(message) {
  if (message.type === 'cpu') {
    // CPU time of the whole process (every thread) so far, user and system, read first thing.
    const { user, system } = process.cpuUsage();
    send({ type: 'cpu', id: message.id, cpuMicros: user + system });
    return;
  }
  if (message.type === 'stats') {
    // The peak resident set of this process, in kilobytes. The heap after a full collection (what
    // the function keeps between invocations) needs --expose-gc.
    const v8 = await import('node:v8');
    let heapAfterGcKb = null;
    if (message.collect && typeof globalThis.gc === 'function') {
      globalThis.gc();
      heapAfterGcKb = Math.round(process.memoryUsage().heapUsed / 1024);
      // For the bench: what the heap holds, to tell compiled code from the function's own objects.
      if (typeof message.heapSnapshot === 'string') v8.writeHeapSnapshot(message.heapSnapshot);
    }
    const answer = {
      type: 'stats',
      id: message.id,
      maxRssKb: peakRssKb(),
      rssKb: Math.round(process.memoryUsage.rss() / 1024),
      // Where memory outside the JavaScript heap goes: buffers, and V8's total heap reservation.
      heapTotalKb: Math.round(process.memoryUsage().heapTotal / 1024),
      externalKb: Math.round(process.memoryUsage().external / 1024),
      heapAfterGcKb,
      // The young generation as V8 has sized it so far (it grows with what survives, to the flag's limit).
      youngGenerationKb: Math.round(
        (v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0) /
          1024,
      ),
      keptRssKb: null,
      keptHeapKb: null,
    };
    // After the figures above: the collection V8 runs under memory pressure, which also shrinks the
    // young generation and hands empty pages back, so what is left is what the function holds.
    if (message.reduce && typeof globalThis.gc === 'function') {
      globalThis.gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
      answer.keptRssKb = Math.round(process.memoryUsage.rss() / 1024);
      answer.keptHeapKb = Math.round(process.memoryUsage().heapUsed / 1024);
    }
    send(answer);
    return;
  }
  if (message.type !== 'invoke') return;
  const deadline = Date.now() + message.timeoutMs;
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: '$LATEST',
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: randomUUID(),
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    await handler(message.event, context);
    send({ type: 'result', id: message.id, ok: true });
  } catch (error) {
    send({ type: 'result', id: message.id, ok: false, error: describe(error) });
  }
}
