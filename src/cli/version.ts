// The CLI's version from package.json (so --version cannot drift), found by walking up from here:
// works from a checkout and an installed package alike.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The `version` of the secrets-rotator package.json above `from` (default: this module), or
 * `unknown` when none is found (a bundle that left package.json behind).
 */
export function packageVersion(from: string = fileURLToPath(import.meta.url)): string {
  let directory = dirname(from);
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (manifest.name === 'secrets-rotator' && typeof manifest.version === 'string')
        return manifest.version;
    } catch {
      // No package.json here, or not ours: keep walking up.
    }
    const parent = dirname(directory);
    if (parent === directory) return 'unknown';
    directory = parent;
  }
}
