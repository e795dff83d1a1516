/**
 * The reliability suite's summary line. Each test file runs in its own worker process, so each
 * records its counts in a directory shared by the run (named after the vitest main process, the
 * workers' parent); the file that completes the set prints the total:
 *
 *   reliability suite: N cases run, N converged, N leaks found (fault matrix …, concurrency …)
 *
 * Each file also prints its own line, so a single file run still reports.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The suites of test/reliability that report, one per test file. */
export const RELIABILITY_SUITES = ['fault matrix', 'concurrency', 'throttling', 'bad input'] as const;

export type SuiteName = (typeof RELIABILITY_SUITES)[number];

/** One suite's counts. */
export interface SuiteCounts {
  /** Cases (scenarios, inputs, races) run. */
  readonly cases: number;
  /** Cases that ended as they must: converged, refused cleanly, unchanged. */
  readonly converged: number;
  /** Tracked secret values found in captured output (test/support/leak-scan.ts). */
  readonly leaks: number;
}

const PREFIX = 'secrets-rotator-reliability-';

/** Runs of only some of the files never print a total: their directories go after a few hours. */
function removeStaleRuns(): void {
  const cutoff = Date.now() - 6 * 3_600_000;
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const path = join(tmpdir(), name);
    try {
      if (statSync(path).mtimeMs < cutoff) rmSync(path, { recursive: true, force: true });
    } catch {
      // Another worker removed it first.
    }
  }
}

/**
 * The vitest run this worker belongs to: its parent's pid, with the parent's start time where the
 * system tells it (so a reused pid never meets the files of an earlier, interrupted run).
 */
function runId(): string {
  try {
    // /proc/<pid>/stat: field 22 is the start time; the command name (field 2) may hold spaces.
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${process.ppid}-${fields[19] ?? '0'}`;
  } catch {
    return String(process.ppid);
  }
}

/**
 * Records a suite's counts and, when every suite of this run has reported, prints the total line.
 *
 * @example
 * ```ts
 * afterAll(() => recordSuiteResult('concurrency', { cases: 4, converged: 4, leaks: leaksFoundSoFar() }));
 * ```
 */
export function recordSuiteResult(suite: SuiteName, counts: SuiteCounts): void {
  console.info(
    `${suite}: ${counts.cases} cases run, ${counts.converged} converged, ${counts.leaks} leaks found`,
  );
  removeStaleRuns();
  const directory = join(tmpdir(), `${PREFIX}${runId()}`);
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, `${suite.replace(/\s+/g, '-')}.json`), JSON.stringify({ suite, ...counts }));
  const recorded = readdirSync(directory)
    .filter((name) => name.endsWith('.json'))
    .map(
      (name) => JSON.parse(readFileSync(join(directory, name), 'utf8')) as SuiteCounts & { suite: string },
    );
  if (recorded.length < RELIABILITY_SUITES.length) return;
  try {
    // Exactly one file prints the total: the one that claims the marker first.
    mkdirSync(join(directory, 'printed'));
  } catch {
    return;
  }
  const total = (key: keyof SuiteCounts) => recorded.reduce((sum, entry) => sum + entry[key], 0);
  const parts = RELIABILITY_SUITES.map((name) => {
    const entry = recorded.find((candidate) => candidate.suite === name);
    return `${name} ${entry?.converged ?? 0}/${entry?.cases ?? 0}`;
  });
  console.info(
    `reliability suite: ${total('cases')} cases run, ${total('converged')} converged, ${total('leaks')} leaks found (${parts.join(', ')})`,
  );
  rmSync(directory, { recursive: true, force: true });
}
