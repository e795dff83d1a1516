/**
 * Child processes that play Lambda containers for the crash cases of the fault matrix. Like the
 * deployed functions, a container runs one esbuild bundle (of crash-child.ts: engine, adapters and
 * SDK), which starts three times faster than the TypeScript sources; one container is kept warm
 * ahead of need, and at most {@link MAX_LIVE} are alive at once (the machine has two cores).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { CrashChildJob } from './crash-child.ts';

const CHILD_SOURCE = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** Bundles the container's entry point once per pool; answers the bundle's path. */
async function bundleChild(directory: string): Promise<string> {
  const outfile = join(directory, 'crash-child.mjs');
  await build({
    entryPoints: [CHILD_SOURCE],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // pg's optional native binding is never used, ssh2 runs without its native parts (as in the
    // Lambda bundles: src/cli/lambda-zip.ts); CommonJS dependencies need `require`.
    external: ['pg-native', 'cpu-features', '*.node'],
    define: { __dirname: 'import.meta.dirname' },
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  return outfile;
}
/** Running containers plus the warm one. */
const MAX_LIVE = 3;

/** How a container's step ended. */
export type ContainerOutcome =
  | { readonly kind: 'done'; readonly ok: boolean; readonly error?: string }
  | { readonly kind: 'killed' }
  | { readonly kind: 'exited'; readonly code: number | null; readonly signal: string | null };

/**
 * One warm container: run one step in it, or kill it.
 *
 * @example
 * ```ts
 * const container = await containers.take();
 * const outcome = await container.run(job); // { kind: 'killed' } when the test killed it mid-step
 * ```
 */
export class Container {
  readonly #child: ChildProcess;
  readonly #exited: Promise<ContainerOutcome>;
  #killed = false;

  constructor(child: ChildProcess, exited: Promise<ContainerOutcome>) {
    this.#child = child;
    this.#exited = exited;
  }

  /** SIGKILL, now: nothing of the process runs any more. */
  kill(): void {
    this.#killed = true;
    this.#child.kill('SIGKILL');
  }

  /** Runs one step; resolves when it finished or the process died. */
  async run(job: CrashChildJob): Promise<ContainerOutcome> {
    const done = new Promise<ContainerOutcome>((resolve) => {
      this.#child.on('message', (message: { type?: string; ok?: boolean; error?: string }) => {
        if (message?.type === 'done') {
          resolve({
            kind: 'done',
            ok: message.ok === true,
            ...(message.error ? { error: message.error } : {}),
          });
        }
      });
    });
    this.#child.send(job);
    const outcome = await Promise.race([done, this.#exited]);
    if (outcome.kind === 'done') {
      this.#child.kill('SIGKILL');
      await this.#exited;
      return outcome;
    }
    return this.#killed ? { kind: 'killed' } : outcome;
  }
}

/**
 * A small pool of warm containers.
 *
 * @example
 * ```ts
 * const containers = new ContainerPool((text) => process.stdout.write(text));
 * const container = await containers.take();
 * ```
 */
export class ContainerPool {
  readonly #output: (text: string) => void;
  #warm: Promise<Container> | undefined;
  #live = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #all = new Set<ChildProcess>();
  #directory: string | undefined;
  #script: Promise<string> | undefined;

  /** `output` receives everything the containers print (so the leak scan sees it). */
  constructor(output: (text: string) => void) {
    this.#output = output;
  }

  /** A ready container; the next one starts warming at once. */
  async take(): Promise<Container> {
    let container = this.#warm;
    this.#warm = undefined;
    if (!container) {
      while (this.#live >= MAX_LIVE) await new Promise<void>((resolve) => this.#waiting.push(resolve));
      container = this.#spawn();
    }
    const ready = await container;
    if (!this.#warm && this.#live < MAX_LIVE) this.#warm = this.#spawn();
    return ready;
  }

  /** Kills every container still alive. */
  async close(): Promise<void> {
    for (const child of this.#all) child.kill('SIGKILL');
    this.#all.clear();
    if (this.#directory) rmSync(this.#directory, { recursive: true, force: true });
  }

  #spawn(): Promise<Container> {
    this.#directory ??= mkdtempSync(join(tmpdir(), 'fault-containers-'));
    this.#script ??= bundleChild(this.#directory);
    const started = this.#script.then((script) => this.#start(script));
    // A warm container nobody takes must not become an unhandled rejection when it is killed.
    started.catch(() => {});
    return started;
  }

  #start(script: string): Promise<Container> {
    this.#live += 1;
    const child = fork(script, [], {
      execArgv: ['--no-warnings'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Dummy credentials as Lambda's (the SDK clients of an adapter read them; no endpoint checks them).
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKIDLOCALTESTONLY',
        AWS_SECRET_ACCESS_KEY: 'local-test-secret-access-key',
      },
    });
    this.#all.add(child);
    child.stdout?.setEncoding('utf8').on('data', (text: string) => this.#output(text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => this.#output(text));
    const exited = new Promise<ContainerOutcome>((resolve) => {
      child.on('exit', (code, signal) => {
        this.#all.delete(child);
        this.#live -= 1;
        this.#waiting.shift()?.();
        resolve({ kind: 'exited', code, signal });
      });
    });
    const ready = new Promise<Container>((resolve, reject) => {
      child.on('message', function onReady(message: { type?: string }) {
        if (message?.type !== 'ready') return;
        child.off('message', onReady);
        resolve(new Container(child, exited));
      });
      void exited.then((outcome) =>
        reject(new Error(`container exited before ready: ${JSON.stringify(outcome)}`)),
      );
    });
    return ready;
  }
}
