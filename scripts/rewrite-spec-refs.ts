/**
 * Rewrites references to the retired contract document ("SPEC 2.1", "SPEC §4.2, 4.3") in every
 * tracked file into links to the sections of docs/protocol.md that replaced it. Idempotent: a
 * second run finds nothing to change. `--check` only lists what it would change (exit 1 if any).
 *
 *   npx node scripts/rewrite-spec-refs.ts [--check]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = 'docs/protocol.md';

/** Old section number → anchor in docs/protocol.md. */

export const SECTIONS: Readonly<Record<string, string>> = {
  '1': 'how-secrets-manager-drives-a-rotation',
  '1.1': 'versions-and-labels',
  '1.2': 'rotatesecret',
  '1.3': 'rotationtoken',
  '1.4': 'reading-the-pending-version',
  '2': 'what-the-function-does-at-each-step',
  '2.1': 'checks-before-every-step',
  '2.2': 'createsecret',
  '2.3': 'setsecret',
  '2.4': 'testsecret',
  '2.5': 'finishsecret',
  '3': 'the-database-secret',
  '4': 'strategies',
  '4.1': 'single-user',
  '4.2': 'alternating-users',
  '4.3': 'shared-ownership-and-exact-grants',
  '5': 'password-policy',
  '6': 'tls-to-databases',
  '7': 'security-rules',
  '8': 'the-local-endpoint',
};

// Built from parts so that this file does not match what it rewrites.
const WORD = ['SP', 'EC'].join('');
const NUMBER = String.raw`\d+(?:\.\d+)?`;
const ITEM = String.raw`${NUMBER}(?:\s*[-–]\s*${NUMBER})?`;
const REFERENCE = new RegExp(String.raw`\b${WORD}\s*§?\s*(${ITEM}(?:\s*(?:,|and)\s*${ITEM})*)`, 'g');
const ORDER = new RegExp(String.raw`\bin ${WORD} order\b`, 'g');
/** Anything still naming the old document, for the check. */
export const LEFTOVER = new RegExp(String.raw`\b${WORD}\b`);

function anchorFor(number: string): string {
  const anchor = SECTIONS[number];
  if (!anchor) throw new Error(`no section of ${DOC} for old section ${number}`);
  return `${DOC}#${anchor}`;
}

/** "2.2-2.5" → the parent section; "1–2" → both top sections; "4.2" → its section. */
function linksFor(item: string): string[] {
  const range = /^(\S+?)\s*[-–]\s*(\S+)$/.exec(item);
  if (!range) return [anchorFor(item)];
  const [from, to] = [range[1]!, range[2]!];
  const parent = (n: string) => n.split('.')[0]!;
  if (from.includes('.') && parent(from) === parent(to)) return [anchorFor(parent(from))];
  const links: string[] = [];
  for (let n = Number(parent(from)); n <= Number(parent(to)); n++) links.push(anchorFor(String(n)));
  return links;
}

/** The text with every old reference replaced by links. */
export function rewrite(text: string): string {
  return text
    .replace(ORDER, `in the order of ${anchorFor('2.1')}`)
    .replace(REFERENCE, (_match, list: string) => {
      const items = list.split(/\s*(?:,|and)\s*/).filter(Boolean);
      const links = [...new Set(items.flatMap(linksFor))];
      return links.length <= 2 ? links.join(' and ') : `${links.slice(0, -1).join(', ')} and ${links.at(-1)}`;
    });
}

/** The files the rewrite and its test look at: every tracked text file but this one. */
export function trackedFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return out
    .split('\0')
    .filter((path) => /\.(ts|mts|mjs|js|md|json|yaml|yml|tf)$/.test(path))
    .filter((path) => path !== 'scripts/rewrite-spec-refs.ts');
}

function main() {
  const check = process.argv.includes('--check');
  const changed: string[] = [];
  for (const path of trackedFiles()) {
    const file = join(ROOT, path);
    const before = readFileSync(file, 'utf8');
    const after = rewrite(before);
    if (after === before) continue;
    changed.push(path);
    if (!check) writeFileSync(file, after);
  }
  for (const path of changed) console.log(`${check ? 'would rewrite' : 'rewrote'} ${path}`);
  if (check && changed.length > 0) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
