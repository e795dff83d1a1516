import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Lets tests and examples import the package by its public name, as users do.
    alias: [
      { find: /^secrets-rotator\/testing$/, replacement: here('./src/testing/index.ts') },
      { find: /^secrets-rotator\/client$/, replacement: here('./src/client/index.ts') },
      { find: /^secrets-rotator\/adapters\/(.*)$/, replacement: here('./src/adapters/$1/index.ts') },
      { find: /^secrets-rotator$/, replacement: here('./src/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    setupFiles: ['test/support/leak-scan.ts'],
    // Prints the security suite's line: security: N attacks tried, N blocked, N credentials leaked.
    globalSetup: ['test/security/support/summary.ts'],
  },
});
