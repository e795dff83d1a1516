// `npm run build`: one zip per file of handlers/ in dist/lambda (index.mjs and the chunks it loads on
// first use), plus manifest.json (size and sha256 of each zip). The work is done by
// scripts/build-lambdas.ts (Node 22 runs TypeScript directly); this file is the command line around it.
import { readFile } from 'node:fs/promises';
import { buildLambdas, kb } from './scripts/build-lambdas.ts';

/** The sizes before names were kept (issue 13); each zip is shown with its ratio to them. */
const baseline = JSON.parse(await readFile(new URL('./bench/zip-baseline.json', import.meta.url), 'utf8'));

const outDir = process.argv[2];

try {
  const { lambdas, manifestPath, overBudget } = await buildLambdas({
    ...(outDir ? { outDir } : {}),
    enforceBudgets: false,
  });
  const rows = [
    ['handler', 'zip', `vs ${baseline.commit}`, 'budget', 'files', 'code', 'sha256', 'largest parts'],
    ...lambdas.map((lambda) => {
      const before = baseline.kb[lambda.name];
      return [
        lambda.name,
        kb(lambda.zipBytes),
        before === undefined
          ? '-'
          : `${before.toFixed(1)} KB (${(lambda.zipBytes / 1024 / before).toFixed(2)}×)`,
        kb(lambda.budgetBytes),
        String(lambda.files.length),
        kb(lambda.codeBytes),
        lambda.sha256.slice(0, 16),
        lambda.contributors
          .slice(0, 3)
          .map((part) => `${part.name} ${kb(part.bytes)}`)
          .join(', '),
      ];
    }),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  for (const row of rows)
    console.log(
      row
        .map((cell, column) => cell.padEnd(widths[column]))
        .join('  ')
        .trimEnd(),
    );
  console.log(`manifest: ${manifestPath}`);
  if (overBudget.length > 0) {
    for (const lambda of overBudget) {
      console.error(
        `${lambda.name}: ${kb(lambda.zipBytes)} is over its budget of ${kb(lambda.budgetBytes)} (scripts/bundle-budgets.json)`,
      );
    }
    process.exitCode = 1;
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
