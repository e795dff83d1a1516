/**
 * Reading Markdown the way GitHub renders it, for the docs tests: heading anchors and runnable
 * blocks.
 */

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../scripts/build-lambdas.ts';

/** `topLevel` (paths from the repository root) followed by every .md file under docs/. */
export async function markdownFiles(topLevel: readonly string[]): Promise<string[]> {
  const files = [...topLevel];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(join(REPO_ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  await walk('docs');
  return files;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown document's headings (outside code fences), with GitHub's `-1` suffixes. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!.replace(/`/g, ''));
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  for (const match of markdown.matchAll(/<a (?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
  return anchors;
}

/** A command block the docs mark as runnable: `<!-- test: run -->` on the line before its fence. */
export interface RunnableBlock {
  /** The Markdown file, relative to the repository. */
  readonly file: string;
  /** Line of the opening fence (1-based). */
  readonly line: number;
  /** The commands, as written. */
  readonly code: string;
  /** Commands the block needs that may not be installed (`<!-- test: run requires=aws -->`). */
  readonly requires: readonly string[];
}

const MARKER = /^<!--\s*test:\s*run(?:\s+requires=([\w,-]+))?\s*-->\s*$/;

/**
 * The runnable blocks of a Markdown document. A marker not followed by a `sh`/`bash` fence is an
 * error, so a marker cannot silently stop testing anything.
 */
export function runnableBlocks(file: string, markdown: string): RunnableBlock[] {
  const lines = markdown.split('\n');
  const blocks: RunnableBlock[] = [];
  lines.forEach((text, index) => {
    const marker = MARKER.exec(text);
    if (!marker) return;
    const fence = lines[index + 1] ?? '';
    if (!/^```(sh|bash|shell)\s*$/.test(fence)) {
      throw new Error(`${file}:${index + 1}: "test: run" must be followed by a \`\`\`sh fence`);
    }
    const end = lines.findIndex((candidate, at) => at > index + 1 && /^```\s*$/.test(candidate));
    if (end < 0) throw new Error(`${file}:${index + 2}: the fence is never closed`);
    blocks.push({
      file,
      line: index + 2,
      code: lines.slice(index + 2, end).join('\n'),
      requires: marker[1] ? marker[1].split(',') : [],
    });
  });
  return blocks;
}

/** The TypeScript blocks a document marks `<!-- test: typecheck -->`: complete modules that must compile. */
export function typecheckBlocks(file: string, markdown: string): RunnableBlock[] {
  const lines = markdown.split('\n');
  const blocks: RunnableBlock[] = [];
  lines.forEach((text, index) => {
    if (!/^<!--\s*test:\s*typecheck\s*-->\s*$/.test(text)) return;
    if (!/^```(ts|typescript)\s*$/.test(lines[index + 1] ?? '')) {
      throw new Error(`${file}:${index + 1}: "test: typecheck" must be followed by a \`\`\`ts fence`);
    }
    const end = lines.findIndex((candidate, at) => at > index + 1 && /^```\s*$/.test(candidate));
    if (end < 0) throw new Error(`${file}:${index + 2}: the fence is never closed`);
    blocks.push({ file, line: index + 2, code: lines.slice(index + 2, end).join('\n'), requires: [] });
  });
  return blocks;
}
