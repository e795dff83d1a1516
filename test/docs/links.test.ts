/**
 * Every relative link in the docs reaches a file that exists and, for a Markdown file, a heading
 * that exists: a page can be renamed or a section retitled only with its links.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-lambdas.ts';
import { headingAnchors, markdownFiles } from './support/markdown.ts';

// The top-level files that exist (CHANGELOG.md may not yet), then docs/.
const documents = () =>
  markdownFiles(
    ['README.md', 'CONTRIBUTING.md', 'SECURITY.md', 'CHANGELOG.md'].filter((file) =>
      existsSync(join(REPO_ROOT, file)),
    ),
  );

/** Markdown links outside code: `[text](target)`. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
}

describe('links in the docs', () => {
  it('reach existing files and headings', async () => {
    const broken: string[] = [];
    for (const file of await documents()) {
      const text = await readFile(join(REPO_ROOT, file), 'utf8');
      for (const link of links(text)) {
        if (/^[a-z]+:/i.test(link)) continue; // https:, mailto:
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path === '' ? file : normalize(join(dirname(file), path));
        if (!existsSync(join(REPO_ROOT, target))) {
          broken.push(`${file}: ${link} (no such file)`);
          continue;
        }
        if (anchor && target.endsWith('.md')) {
          const anchors = headingAnchors(await readFile(join(REPO_ROOT, target), 'utf8'));
          if (!anchors.has(anchor)) broken.push(`${file}: ${link} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README stays an introduction: at most 12 KB', async () => {
    const readme = await readFile(join(REPO_ROOT, 'README.md'));
    expect(readme.byteLength).toBeLessThanOrEqual(12 * 1024);
  });
});
