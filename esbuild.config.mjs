// `npm run build`: one zip per file of handlers/ in dist/lambda, plus manifest.json (size and
// sha256 of each zip). The work is done by scripts/build-lambdas.ts (Node 22 runs TypeScript
// directly); this file is the command line around it.
import { buildLambdas, kb } from './scripts/build-lambdas.ts';

const outDir = process.argv[2];

try {
  const { lambdas, manifestPath, overBudget } = await buildLambdas({
    ...(outDir ? { outDir } : {}),
    enforceBudgets: false,
  });
  const rows = [
    ['handler', 'zip', 'budget', 'index.mjs', 'sha256', 'largest parts'],
    ...lambdas.map((lambda) => [
      lambda.name,
      kb(lambda.zipBytes),
      kb(lambda.budgetBytes),
      kb(lambda.indexBytes),
      lambda.sha256.slice(0, 16),
      lambda.contributors
        .slice(0, 3)
        .map((part) => `${part.name} ${kb(part.bytes)}`)
        .join(', '),
    ]),
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
