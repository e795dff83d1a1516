// The journal of `rotate --all`: one JSON line per event, so a re-run after an interruption resumes.
// A `started` line is fsynced before RotateSecret: a secret never gets a second version id. No secret values.
import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Env } from '../../core/config.ts';
import { envString } from '../../core/config.ts';

type JournalEntry =
  | { readonly kind: 'run'; readonly at: string; readonly command: string }
  | {
      readonly kind: 'started';
      readonly at: string;
      readonly arn: string;
      readonly name: string;
      readonly versionId: string;
    }
  | { readonly kind: 'rotated'; readonly at: string; readonly arn: string; readonly versionId: string }
  | {
      readonly kind: 'failed';
      readonly at: string;
      readonly arn: string;
      readonly versionId: string;
      readonly step: string | null;
      readonly error: string;
    }
  | {
      readonly kind: 'already-rotating';
      readonly at: string;
      readonly arn: string;
      readonly pendingVersionId: string;
    };

/** What the journal says about one secret: its last entry. */
type SecretRecord = Exclude<JournalEntry, { kind: 'run' }>;

/**
 * The default journal file for one selection: the same command (endpoint, region, profile, filters,
 * mode) maps to the same file, so running it again resumes.
 */
export function defaultJournalPath(env: Env, key: string): string {
  const base =
    envString(env, 'XDG_STATE_HOME') ??
    join(envString(env, 'HOME') ?? envString(env, 'USERPROFILE') ?? '.', '.local', 'state');
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return join(base, 'secrets-rotator', `rotate-all-${hash}.jsonl`);
}

export class Journal {
  readonly path: string;
  /** The last entry of each secret, by ARN, from earlier runs. */
  readonly earlier: ReadonlyMap<string, SecretRecord>;
  /** How many earlier runs wrote to this journal. */
  readonly earlierRuns: number;
  #fd: number | undefined;

  /** Reads the journal at `path` (if any) and opens it for appending; creates the folder. */
  constructor(path: string, command: string) {
    const earlier = new Map<string, SecretRecord>();
    let runs = 0;
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        // A line cut short by kill -9 or a full disk: the entries before it stand.
        continue;
      }
      if (entry.kind === 'run') runs += 1;
      else if (typeof entry.arn === 'string') earlier.set(entry.arn, entry);
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.path = path;
    this.earlier = earlier;
    this.earlierRuns = runs;
    this.#fd = openSync(path, 'a', 0o600);
    this.record({ kind: 'run', at: new Date().toISOString(), command }, true);
  }

  /** Appends one entry; `durable` waits until it is on the disk. */
  record(entry: JournalEntry, durable = false): void {
    if (this.#fd === undefined) return;
    writeSync(this.#fd, `${JSON.stringify(entry)}\n`);
    if (durable) fdatasyncSync(this.#fd);
  }

  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  /** Closes it and renames it `*.done`: the next run of the same command starts afresh. */
  retire(): string {
    this.close();
    const done = `${this.path.replace(/\.jsonl$/, '')}.${new Date().toISOString().replace(/[:.]/g, '-')}.done.jsonl`;
    renameSync(this.path, done);
    return done;
  }
}
