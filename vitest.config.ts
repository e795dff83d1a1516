import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { TIERS, tierFiles } from './test/tiers.ts';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// `vitest run --mode unit` (npm run test:unit) runs one tier; the default mode runs the whole suite.
export default defineConfig(({ mode }) => {
  const tier = TIERS.find((name) => name === mode);
  if (mode !== 'test' && !tier) {
    throw new Error(`--mode ${mode}: not a test tier; use one of ${TIERS.join(', ')}, or no --mode for all`);
  }
  return {
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
      include: tier ? tierFiles(tier) : ['test/**/*.test.ts', 'examples/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 180_000,
      pool: 'forks',
      setupFiles: ['test/support/leak-scan.ts'],
      // Prints the security suite's line: security: N attacks tried, N blocked, N credentials leaked.
      globalSetup: ['test/security/support/summary.ts'],
    },
  };
});
