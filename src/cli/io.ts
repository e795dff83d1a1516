// Where the CLI reads and writes; never process.stdout/env directly, so tests run it in-process.
// Everything written passes through the redactor: a secret seen by an adapter never reaches the terminal.
import { type Env, processEnv } from '../core/config.ts';
import { redactor } from '../core/observability.ts';
import type { HandlerEntry } from './handlers.ts';

/** A stream the CLI writes to: `process.stdout`, `process.stderr`, or a test's collector. */
interface CliOutputStream {
  write(chunk: string): unknown;
  /** True on a terminal: enables the progress bar and interactive prompts. */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** The CLI's surroundings. Every field has a process default (see {@link processIo}). */
export interface CliIo {
  readonly stdout: CliOutputStream;
  readonly stderr: CliOutputStream;
  /** Answers to prompts (`repair` asks before it changes anything). Absent or not a TTY: no prompts. */
  readonly stdin?: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  /** The environment: AWS settings, the rotation functions' settings. Default `process.env`. */
  readonly env: Env;
  /** "Now", for verdicts and ages. Default the system clock. */
  readonly now?: () => Date;
  /** Aborting it stops long-running commands (`local-endpoint`, `rotate --via-service` polling). */
  readonly signal?: AbortSignal;
  /** Extra handler names, for tests and embedders; they win over the built-in ones. */
  readonly handlers?: Readonly<Record<string, HandlerEntry>>;
}

export function processIo(env: Env = processEnv()): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env };
}

/** Line-oriented, redacting writers over a {@link CliIo}. */
export class Printer {
  readonly io: CliIo;

  constructor(io: CliIo) {
    this.io = io;
  }

  line(text = ''): void {
    this.io.stdout.write(`${redactor.scrub(text)}\n`);
  }

  /** Writes text to stdout as is (a table, a JSON document), redacted. */
  raw(text: string): void {
    this.io.stdout.write(redactor.scrub(text));
  }

  /** Writes one line to stderr (progress notes, warnings). */
  note(text: string): void {
    this.io.stderr.write(`${redactor.scrub(text)}\n`);
  }

  error(message: string, fix?: string): void {
    this.note(`error: ${message}`);
    if (fix) this.note(`  fix: ${fix}`);
  }

  /** Writes a JSON document to stdout; durations (fields ending in `Ms`) rounded to 0.1 ms. */
  json(value: unknown): void {
    this.raw(`${JSON.stringify(value, roundDurations, 2)}\n`);
  }

  now(): Date {
    return this.io.now?.() ?? new Date();
  }
}

/** `performance.now()` differences carry float noise (13.233361000000059): 0.1 ms is plenty. */
function roundDurations(key: string, value: unknown): unknown {
  return typeof value === 'number' && key.endsWith('Ms') && !Number.isInteger(value)
    ? Math.round(value * 10) / 10
    : value;
}
