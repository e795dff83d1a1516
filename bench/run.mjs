// `npm run bench`: runs every bench/*.bench.mjs (or .bench.ts) in name order and prints each one's
// table. Figures only, never assertions: they describe this machine, not Lambda.
//
// To add a figure, add a file bench/<name>.bench.mjs whose default export is
//   async function bench({ rotations }) { return { title, rows, notes } }
// where `rows` is an array of objects with the same keys (the columns, in order) and `notes` an
// optional array of lines printed under the table; or `{ tables: [{ title, rows, notes }, ...] }` for
// several tables. Nothing here needs to change.
//
// Usage: npm run bench [-- <name filter>...] [-- --rotations=N] [-- --memory-rotations=20,200,600]
//        [-- --save-baseline]   (default N = 20; --save-baseline writes bench/baseline.json)
//        [-- --against=<commit>] (lambdas: ratios to that commit's zips, built and measured in this run)
//        [-- --handlers=a,b]     (lambdas, cpu: only these handlers)
//        [-- --lambda-cpu]       (lambdas: also at 15 ms with the function held to the CPU share of a
//                                 128 MB Lambda function; needs root and a cgroup CPU controller)
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const rotationsArg = args.find((arg) => arg.startsWith('--rotations='));
const rotations = rotationsArg ? Number(rotationsArg.split('=')[1]) : 20;
if (!Number.isInteger(rotations) || rotations < 1) {
  console.error(`--rotations must be a whole number of at least 1, got "${rotationsArg}"`);
  process.exit(2);
}
const filters = args.filter((arg) => !arg.startsWith('--'));
const memoryArg = args.find((arg) => arg.startsWith('--memory-rotations='));
const memoryRotations = (memoryArg ? memoryArg.split('=')[1] : '20,200,600').split(',').map(Number);
if (memoryRotations.some((count) => !Number.isInteger(count) || count < 1)) {
  console.error(
    `--memory-rotations must be whole numbers of at least 1, e.g. 20,200,600; got "${memoryArg}"`,
  );
  process.exit(2);
}
const saveBaseline = args.includes('--save-baseline');
const lambdaCpu = args.includes('--lambda-cpu');
const handlersArg = args.find((arg) => arg.startsWith('--handlers='));
const handlers = handlersArg?.split('=')[1].split(',').filter(Boolean);
if (handlersArg && !handlers?.length) {
  console.error('--handlers needs handler names, e.g. --handlers=postgres-single-user,random-secret');
  process.exit(2);
}
if (handlers && saveBaseline) {
  console.error('--save-baseline records every handler: leave out --handlers');
  process.exit(2);
}
const againstArg = args.find((arg) => arg.startsWith('--against'));
const against = againstArg?.split('=')[1];
if (againstArg && !against) {
  console.error(
    '--against needs a commit, e.g. --against=4a89991 (the code bench/baseline.json was recorded from)',
  );
  process.exit(2);
}

const files = (await readdir(here))
  .filter((file) => /\.bench\.(mjs|ts)$/.test(file))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();

if (files.length === 0) {
  console.error(`no bench file in bench/ matches ${filters.join(', ') || '*.bench.mjs'}`);
  process.exit(2);
}

/** Prints rows as an aligned text table, numbers right-aligned. */
function printTable(rows) {
  const columns = Object.keys(rows[0] ?? {});
  const cell = (value) => (value === undefined || value === null ? '—' : String(value));
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => cell(row[column]).length)),
  );
  const line = (values, alignRight) =>
    `| ${values.map((value, i) => (alignRight[i] ? value.padStart(widths[i]) : value.padEnd(widths[i]))).join(' | ')} |`;
  const numeric = columns.map((column) => rows.every((row) => /^(-?\d+(\.\d+)?|—)$/.test(cell(row[column]))));
  console.log(
    line(
      columns,
      columns.map(() => false),
    ),
  );
  console.log(
    `|${widths.map((width, i) => (numeric[i] ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`,
  );
  for (const row of rows)
    console.log(
      line(
        columns.map((column) => cell(row[column])),
        numeric,
      ),
    );
}

let failed = false;
for (const file of files) {
  const started = performance.now();
  try {
    const module = await import(pathToFileURL(join(here, file)).href);
    if (typeof module.default !== 'function') throw new TypeError(`${file} has no default export function`);
    const result = await module.default({
      rotations,
      memoryRotations,
      saveBaseline,
      against,
      lambdaCpu,
      handlers,
    });
    for (const { title, rows, notes = [] } of result.tables ?? [result]) {
      console.log(`\n## ${title}\n`);
      if (rows.length > 0) printTable(rows);
      for (const note of notes) console.log(note);
    }
    console.log(`\n(${file}: ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failed = true;
    console.error(`\n${file} failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
  }
}
process.exitCode = failed ? 1 : 0;
