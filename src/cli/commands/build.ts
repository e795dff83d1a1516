// `secrets-rotator build <rotator.ts>`: a user's own rotator as a deployable Lambda zip, built the
// way the built-in handlers are (see lambda-zip.ts), for the SAM and Terraform templates.
import type { Command } from 'commander';
import type { CommandContext } from '../context.ts';
import { EXIT, type ExitCode } from '../exit.ts';
import { formatDuration } from '../format.ts';
import { buildRotatorZip, LAMBDA_HANDLER, LAMBDA_RUNTIME } from '../lambda-zip.ts';

interface BuildOptions {
  readonly outDir: string;
  readonly name?: string;
}

export function registerBuild(program: Command, context: CommandContext): void {
  program
    .command('build')
    .summary('bundle your own rotator into a Lambda zip (index.mjs, Handler index.handler)')
    .description(
      'Bundles a rotator file that exports `handler` (createRotationHandler(yourTarget)) with everything it ' +
        `imports into <out-dir>/<name>.zip, one index.mjs for ${LAMBDA_RUNTIME} with ${LAMBDA_HANDLER}: the same ` +
        'settings and byte-for-byte reproducible shape as the built-in handlers. The source map goes to a ' +
        'separate <out-dir>-source-maps-do-not-upload folder. Needs esbuild in the project (npm install --save-dev esbuild).',
    )
    .argument('<rotator>', 'the rotator file, e.g. src/rotator.ts')
    .option('--out-dir <dir>', 'where the zip goes', 'dist/lambda')
    .option('--name <name>', "the zip's name without .zip (default: the file's name)")
    .addHelpText(
      'after',
      [
        '',
        'Example:',
        '  secrets-rotator build src/rotator.ts            # dist/lambda/rotator.zip',
        '  sam deploy ... --parameter-overrides HandlerName=custom CodeKey=<the uploaded zip>',
      ].join('\n'),
    )
    .action(context.action(runBuild));
}

async function runBuild(
  context: CommandContext,
  rotator: string,
  options: BuildOptions,
  command: Command,
): Promise<ExitCode> {
  const flags = context.flags(command);
  context.requireOutput(flags, ['table', 'json'], 'build');
  const started = performance.now();
  const built = await buildRotatorZip({
    entry: rotator,
    outDir: options.outDir,
    ...(options.name ? { name: options.name } : {}),
  });
  if (flags.output === 'json') {
    context.out.line(
      JSON.stringify({
        name: built.name,
        zip: built.zipPath,
        bytes: built.zipBytes,
        sha256: built.sha256,
        sourceMap: built.sourceMapPath,
        runtime: LAMBDA_RUNTIME,
        handler: LAMBDA_HANDLER,
      }),
    );
    return EXIT.OK;
  }
  context.out.line(`built ${built.zipPath} in ${formatDuration(performance.now() - started)}`);
  context.out.line(
    `  ${(built.zipBytes / 1024).toFixed(1)} KB, sha256 ${built.sha256}; runtime ${LAMBDA_RUNTIME}, handler ${LAMBDA_HANDLER}`,
  );
  context.out.line(`  source map (do not upload): ${built.sourceMapPath}`);
  return EXIT.OK;
}
