// What every command receives: surroundings, printer, global flags, and one lazily built client per run.
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { envString } from '../core/config.ts';
import { type GlobalFlags, type OutputFormat, secretsManagerClient } from './aws.ts';
import { EXIT, type ExitCode, UsageError } from './exit.ts';
import { type CliIo, Printer } from './io.ts';

export class CommandContext {
  readonly io: CliIo;
  readonly out: Printer;
  #client: SecretsManagerClient | undefined;
  /** Run when the CLI run ends, success or not (stop servers, close clients). */
  readonly cleanups: Array<() => Promise<void> | void> = [];
  exitCode: ExitCode = EXIT.OK;

  constructor(io: CliIo) {
    this.io = io;
    this.out = new Printer(io);
  }

  /** A commander action: `run` gets this context and commander's arguments; its exit code is kept. */
  action(run: (context: CommandContext, ...args: never[]) => Promise<ExitCode>) {
    return async (...args: unknown[]) => {
      this.exitCode = await run(this, ...(args as never[]));
    };
  }

  /** The global flags, wherever they were given on the command line. */
  flags(command: Command): GlobalFlags {
    const options = command.optsWithGlobals() as Partial<GlobalFlags>;
    return {
      region: options.region,
      profile: options.profile,
      // As the SDK and the AWS CLI do; taken here so that a loopback endpoint set this way gets the
      // same treatment as --endpoint-url (no credentials or region needed, failures reported).
      endpointUrl: options.endpointUrl ?? envString(this.io.env, 'AWS_ENDPOINT_URL_SECRETS_MANAGER'),
      output: options.output ?? 'table',
      verbose: options.verbose ?? false,
    };
  }

  requireOutput(flags: GlobalFlags, allowed: readonly OutputFormat[], command: string): void {
    if (!allowed.includes(flags.output)) {
      throw new UsageError(
        `--output ${flags.output} is not available for ${command}`,
        `use --output ${allowed.join(' or --output ')}`,
      );
    }
  }

  /** The Secrets Manager client for these flags (built once per run). */
  client(flags: GlobalFlags): SecretsManagerClient {
    if (!this.#client) {
      const client = secretsManagerClient(flags, this.io.env);
      this.#client = client;
      this.cleanups.push(() => client.destroy());
    }
    return this.#client;
  }

  now(): Date {
    return this.out.now();
  }
}
