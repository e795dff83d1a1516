// Staging labels as the CLI shows them: who holds each, and what changed between two readings.
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from '../core/stages.ts';

/** A secret's versions and their labels, as DescribeSecret answers (`VersionIdsToStages`). */
export type VersionLabels = Readonly<Record<string, readonly string[]>>;

const LABEL_ORDER = [AWSCURRENT, AWSPENDING, AWSPREVIOUS];

/** The first 8 characters of a version id: enough to tell versions apart in a trace. */
export function shortId(versionId: string): string {
  return versionId.length > 8 ? versionId.slice(0, 8) : versionId;
}

/** The version holding `label`, if any (labels other than AWSCURRENT may be missing). */
export function holderOf(labels: VersionLabels, label: string): string | undefined {
  return Object.keys(labels).find((id) => labels[id]?.includes(label));
}

/** The version holding AWSPENDING while not AWSCURRENT: an unfinished (or running) rotation. */
export function unfinishedPending(labels: VersionLabels): string | undefined {
  return Object.keys(labels).find(
    (id) => labels[id]?.includes(AWSPENDING) && !labels[id]?.includes(AWSCURRENT),
  );
}

function orderedLabels(before: VersionLabels, after: VersionLabels): string[] {
  const all = new Set([before, after].flatMap((map) => Object.values(map).flat()));
  const known = LABEL_ORDER.filter((label) => all.has(label));
  const custom = [...all].filter((label) => !LABEL_ORDER.includes(label)).sort();
  return [...known, ...custom];
}

/**
 * Describes every label that moved between two readings, one phrase per label:
 * `AWSPENDING added on 3f2a5b6c`, `AWSCURRENT moved 1b2c3d4e → 3f2a5b6c`, `AWSPENDING removed from 3f2a5b6c`.
 */
export function labelChanges(before: VersionLabels, after: VersionLabels): string[] {
  const changes: string[] = [];
  for (const label of orderedLabels(before, after)) {
    const from = holderOf(before, label);
    const to = holderOf(after, label);
    if (from === to) continue;
    if (from === undefined) changes.push(`${label} added on ${shortId(to!)}`);
    else if (to === undefined) changes.push(`${label} removed from ${shortId(from)}`);
    else changes.push(`${label} moved ${shortId(from)} → ${shortId(to)}`);
  }
  return changes;
}

/** One line summarising where the main labels are: `AWSCURRENT=3f2a5b6c AWSPREVIOUS=1b2c3d4e`. */
export function labelSummary(labels: VersionLabels): string {
  return orderedLabels(labels, {})
    .map((label) => `${label}=${shortId(holderOf(labels, label) ?? '-')}`)
    .join(' ');
}
