/**
 * The code, tests and docs cite the contract by links to docs/protocol.md. The document they used
 * to cite is not in the repository: a reference to it must not come back, and every link must name
 * a section that exists.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-lambdas.ts';
import { LEFTOVER, rewrite, SECTIONS, trackedFiles } from '../../scripts/rewrite-spec-refs.ts';
import { headingAnchors } from './support/markdown.ts';

const read = (path: string) => readFile(join(REPO_ROOT, path), 'utf8');
// Spelled in parts so that this file does not match what it looks for.
const OLD = ['SP', 'EC'].join('');

describe('references to the contract', () => {
  it('no tracked file cites the retired document (run `npx node scripts/rewrite-spec-refs.ts`)', async () => {
    const offenders: string[] = [];
    for (const path of trackedFiles()) {
      const lines = (await read(path)).split('\n');
      lines.forEach((line, index) => {
        if (LEFTOVER.test(line)) offenders.push(`${path}:${index + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('every link to a section of docs/protocol.md names one of its headings', async () => {
    const anchors = headingAnchors(await read('docs/protocol.md'));
    const broken: string[] = [];
    for (const path of trackedFiles()) {
      for (const match of (await read(path)).matchAll(/(?:docs\/)?protocol\.md#([\w-]+)/g)) {
        if (!anchors.has(match[1]!)) broken.push(`${path}: #${match[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the rewrite maps each old section to a heading that exists', async () => {
    const anchors = headingAnchors(await read('docs/protocol.md'));
    expect(Object.values(SECTIONS).filter((anchor) => !anchors.has(anchor))).toEqual([]);
  });

  it('the rewrite turns every form of old reference into links, and a second run changes nothing', () => {
    const text = [
      `the checks (${OLD} 2.1), in order`,
      `alternating users (${OLD} §4.2, 4.3)`,
      `versions (${OLD} 1.4, 2.2, 2.5)`,
      `it follows ${OLD} 2.1 and 2.2-2.5 closely`,
      `the engine owns the protocol (${OLD} §1–2)`,
      `reported in ${OLD} order`,
      `sslType: '${OLD}IFIED'`,
    ].join('\n');
    const once = rewrite(text);
    expect(once.split('\n')).toEqual([
      'the checks (docs/protocol.md#checks-before-every-step), in order',
      'alternating users (docs/protocol.md#alternating-users and docs/protocol.md#shared-ownership-and-exact-grants)',
      'versions (docs/protocol.md#reading-the-pending-version, docs/protocol.md#createsecret and docs/protocol.md#finishsecret)',
      'it follows docs/protocol.md#checks-before-every-step and docs/protocol.md#what-the-function-does-at-each-step closely',
      'the engine owns the protocol (docs/protocol.md#how-secrets-manager-drives-a-rotation and docs/protocol.md#what-the-function-does-at-each-step)',
      'reported in the order of docs/protocol.md#checks-before-every-step',
      `sslType: '${OLD}IFIED'`,
    ]);
    expect(rewrite(once)).toBe(once);
    expect(once.split('\n').filter((line) => LEFTOVER.test(line))).toEqual([]);
  });
});
