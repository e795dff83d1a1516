// The `secrets-rotator` program: one command run, every outcome a documented exit code; `runCli`
// runs in-process with injected streams and environment (how the tests drive it).
import { Command, CommanderError, Option } from 'commander';
import { ConfigurationError, RotationError, SecretsManagerCallError } from '../core/errors.ts';
import { redactor } from '../core/observability.ts';
import { OUTPUT_FORMATS } from './aws.ts';
import { registerAudit } from './commands/audit.ts';
import { registerBuild } from './commands/build.ts';
import { registerCheck } from './commands/check.ts';
import { registerDemo } from './commands/demo.ts';
import { registerLocalEndpoint } from './commands/local-endpoint.ts';
import { registerRepair } from './commands/repair.ts';
import { registerRotate } from './commands/rotate.ts';
import { registerStatus } from './commands/status.ts';
import { CommandContext } from './context.ts';
import { CliError, EXIT, type ExitCode } from './exit.ts';
import { type CliIo, processIo } from './io.ts';
import { packageVersion } from './version.ts';

const EXIT_CODES_HELP = `
Exit codes:
  0  success, nothing wrong found
  1  a finding: a secret fails the policy (status, audit), a rotation failed, timed out or cannot
     start with the secret's rotation set-up (rotate: no rotation function, an unknown function),
     a preflight check failed (check), the demo failed
  2  usage error: unknown command or flag, bad flag value (e.g. a malformed --region), flags that
     do not go together, an environment variable with a bad value
  3  AWS or endpoint error: no credentials, an undefined profile, no region configured, access
     denied, secret not found, endpoint unreachable or not a Secrets Manager endpoint

AWS settings work as in the AWS CLI: the default credential chain, --profile / AWS_PROFILE,
--region / AWS_REGION, --endpoint-url (a loopback URL needs no credentials).`;

/** Builds the program for one run. Exposed for docs/cli.md and tests of `--help`. */
function buildProgram(context: CommandContext): Command {
  const { io } = context;
  const output = {
    writeOut: (text: string) => io.stdout.write(text),
    writeErr: (text: string) => io.stderr.write(text),
  };
  const program = new Command('secrets-rotator')
    .description(
      'Operate AWS Secrets Manager rotation: rotate, inspect, audit, repair and preflight secrets; run a local endpoint and a demo.',
    )
    .version(packageVersion(), '-V, --version')
    .option('--region <region>', "AWS region (default: AWS_REGION, then the profile's region)")
    .option(
      '--profile <name>',
      'AWS profile from ~/.aws/config (default: AWS_PROFILE, then the default chain)',
    )
    .option(
      '--endpoint-url <url>',
      "Secrets Manager endpoint to use instead of AWS's (e.g. the local endpoint)",
    )
    .addOption(
      new Option('--output <format>', 'output format (csv: audit only)')
        .choices(OUTPUT_FORMATS)
        .default('table'),
    )
    .option('-v, --verbose', "print the rotation functions' log lines (JSON, redacted) on stderr")
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput(output)
    .addHelpText('after', EXIT_CODES_HELP);
  registerRotate(program, context);
  registerStatus(program, context);
  registerAudit(program, context);
  registerRepair(program, context);
  registerCheck(program, context);
  registerDemo(program, context);
  registerLocalEndpoint(program, context);
  registerBuild(program, context);
  for (const command of program.commands) {
    command.exitOverride().configureOutput(output);
    command.showHelpAfterError(`(run secrets-rotator ${command.name()} --help for usage)`);
  }
  return program;
}

/**
 * Runs the CLI once with `argv` (the arguments after the program name) and returns the exit code.
 * Never calls `process.exit`; never throws.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  const context = new CommandContext(io);
  const program = buildProgram(context);
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.USAGE;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return context.exitCode;
  } catch (error) {
    return report(context, error);
  } finally {
    for (const cleanup of context.cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // Cleaning up must not change the outcome.
      }
    }
  }
}

function report(context: CommandContext, error: unknown): ExitCode {
  const out = context.out;
  if (error instanceof CommanderError) {
    // Commander has printed its message already; help and version are not errors.
    const answered = ['commander.helpDisplayed', 'commander.version', 'commander.help'];
    return answered.includes(error.code) ? EXIT.OK : EXIT.USAGE;
  }
  redactor.scrubError(error);
  if (error instanceof CliError) {
    out.error(error.message, error.fix);
    return error.exitCode;
  }
  if (error instanceof ConfigurationError) {
    out.error(error.message, `fix ${error.setting} and run again`);
    return EXIT.USAGE;
  }
  if (error instanceof SecretsManagerCallError) {
    out.error(error.message);
    return EXIT.AWS;
  }
  if (error instanceof RotationError) {
    out.error(error.message);
    return EXIT.POLICY_FAILURE;
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  out.error(`unexpected failure: ${message}`, 'run again with --verbose; if it persists, report it');
  return EXIT.POLICY_FAILURE;
}
