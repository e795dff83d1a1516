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
  const rows = lambdas.map((lambda) => ({
    handler: lambda.name,
    zip: kb(lambda.zipBytes),
    budget: kb(lambda.budgetBytes),
    'index.mjs': kb(lambda.indexBytes),
    'largest parts': lambda.contributors
      .slice(0, 3)
      .map((part) => `${part.name} ${kb(part.bytes)}`)
      .join(', '),
    sha256: lambda.sha256.slice(0, 16),
  }));
  console.table(rows);
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
