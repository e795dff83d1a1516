// `secrets-rotator local-endpoint`: the local Secrets Manager endpoint in the foreground; rotation
// functions attach by name so `rotate --via-service` and any SDK's RotateSecret work against it.
import { once } from 'node:events';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createRotationHandler } from '../../core/engine.ts';
import { parseRateLimits } from '../../testing/rate-limit.ts';
import { normalizeOrigin } from '../../testing/request-guard.ts';
import { readSeedFile, type Seed, seedRequests } from '../../testing/seed.ts';
import { startLocalSecretsManager } from '../../testing/server.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, type ExitCode, UsageError } from '../exit.ts';
import { findHandler } from '../handlers.ts';
import { wholeNumber } from '../options.ts';
import { cliLogger, cliMetrics } from '../runtime.ts';

type RotationFunction = { name: string; handler: string };

interface LocalEndpointOptions {
  readonly port: number;
  readonly host: string;
  readonly accountId: string;
  readonly latencyMs: number;
  readonly seed?: string;
  readonly rotationFunction: RotationFunction[];
  readonly rateLimit?: Record<string, number>;
  readonly allowOrigin: string[];
  readonly allowHost: string[];
}

function originOption(value: string, previous: string[] = []): string[] {
  if (!normalizeOrigin(value)) {
    throw new InvalidArgumentError('Expected an origin: scheme://host[:port], e.g. http://localhost:3000.');
  }
  return [...previous, value];
}

function rateLimitOption(value: string): Record<string, number> {
  try {
    return parseRateLimits(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message.replace(/^--rate-limit:? ?/, ''));
  }
}

function parseRotationFunction(value: string, previous: RotationFunction[] = []): RotationFunction[] {
  const match = /^([A-Za-z0-9_-]{1,64})=([a-z0-9-]+)$/.exec(value);
  if (!match) {
    throw new InvalidArgumentError('Expected FUNCTION=HANDLER, e.g. my-rotator=random-secret.');
  }
  return [...previous, { name: match[1]!, handler: match[2]! }];
}

/** The seed file, or a usage error naming the flag (never the file's content). */
async function readSeed(path: string): Promise<Seed> {
  try {
    const seed = await readSeedFile(path);
    seedRequests(seed, `--seed ${path}`);
    return seed;
  } catch (error) {
    throw new UsageError((error as Error).message, 'fix the file or drop --seed');
  }
}

/** Resolves when `signal` aborts, or on SIGINT / SIGTERM when no signal is given. */
function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  if (signal) return signal.aborted ? Promise.resolve() : once(signal, 'abort').then(() => {});
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function registerLocalEndpoint(program: Command, context: CommandContext): void {
  program
    .command('local-endpoint')
    .summary('run the local Secrets Manager endpoint in the foreground (offline use)')
    .description(
      'Starts the local Secrets Manager endpoint (in memory, loopback by default) and keeps it running until ' +
        'Ctrl-C. Point any AWS SDK or the AWS CLI at it with --endpoint-url or AWS_ENDPOINT_URL_SECRETS_MANAGER. ' +
        '--rotation-function attaches a built-in handler as a named rotation function for RotateSecret.',
    )
    .addOption(
      new Option('--port <port>', 'TCP port (0 picks a free one)')
        .argParser(wholeNumber(0, 65_535))
        .default(4566),
    )
    .option('--host <address>', 'address to listen on (anything but loopback prints a warning)', '127.0.0.1')
    .option(
      '--allow-origin <origin>',
      'let web pages from this origin call the endpoint, e.g. http://localhost:3000 (repeatable); requests from other pages are refused',
      originOption,
      [],
    )
    .option(
      '--allow-host <name>',
      'serve requests addressed to this host name too, e.g. host.docker.internal (repeatable); loopback names always are',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option('--account-id <id>', 'account id in ARNs', '123456789012')
    .addOption(
      new Option(
        '--latency-ms <ms>',
        'milliseconds added to every Secrets Manager call, to play the network (a call from Lambda costs 10-30 ms)',
      )
        .argParser(wholeNumber(0, 60_000))
        .default(0),
    )
    .option(
      '--seed <file>',
      'JSON file of secrets to start with: {"name": "value", ...} or [{"Name": ..., "SecretString": ...}, ...]',
    )
    .option(
      '--rotation-function <function=handler>',
      'serve RotateSecret for this Lambda function name with a built-in handler (repeatable)',
      parseRotationFunction,
      [],
    )
    .option(
      '--rate-limit <operation=rate,...>',
      'requests per second per operation (e.g. RotateSecret=50,GetSecretValue=100); over it: ThrottlingException',
      rateLimitOption,
    )
    .addHelpText(
      'after',
      [
        '',
        'Example:',
        '  echo \'{"app/key": "first"}\' > secrets.json',
        '  secrets-rotator local-endpoint --port 4566 --seed secrets.json --rotation-function demo-rotator=random-secret',
        '  secrets-rotator local-endpoint --rate-limit RotateSecret=50,PutSecretValue=50,GetSecretValue=100',
        '  secrets-rotator rotate app/key --via-service --endpoint-url http://127.0.0.1:4566 \\',
        '    --rotation-lambda-arn arn:aws:lambda:us-east-1:123456789012:function:demo-rotator',
      ].join('\n'),
    )
    .action(context.action(runLocalEndpoint));
}

async function runLocalEndpoint(
  context: CommandContext,
  options: LocalEndpointOptions,
  command: Command,
): Promise<ExitCode> {
  const flags = context.flags(command);
  const out = context.out;
  if (!/^\d{12}$/.test(options.accountId)) {
    throw new UsageError(`--account-id must be 12 digits, got "${options.accountId}"`);
  }
  // The flag only: AWS_ENDPOINT_URL_SECRETS_MANAGER may well be exported for the clients of this endpoint.
  if ((command.optsWithGlobals() as { endpointUrl?: string }).endpointUrl) {
    throw new UsageError(
      '--endpoint-url makes no sense for local-endpoint: it is the endpoint',
      'drop --endpoint-url',
    );
  }
  const region = flags.region ?? 'us-east-1';
  const targets = await Promise.all(
    options.rotationFunction.map(async (entry) => ({
      ...entry,
      target: await findHandler(entry.handler, context.io.handlers).load(),
    })),
  );
  const seed = options.seed === undefined ? undefined : await readSeed(options.seed);
  let local: Awaited<ReturnType<typeof startLocalSecretsManager>>;
  try {
    local = await startLocalSecretsManager({
      ...(options.rateLimit ? { rateLimits: options.rateLimit } : {}),
      ...(seed ? { seed } : {}),
      port: options.port,
      host: options.host,
      allowedOrigins: options.allowOrigin,
      allowedHosts: options.allowHost,
      onWarning: (message: string) => out.note(`warning: ${message}`),
      region,
      accountId: options.accountId,
      latencyMs: options.latencyMs,
      ...(flags.verbose ? { log: (line: string) => out.note(line) } : {}),
    });
  } catch (error) {
    throw startFailure(error, options, seed !== undefined);
  }
  for (const { name, handler, target } of targets) {
    local.registerRotationFunction(
      name,
      createRotationHandler(target, {
        client: local.client(),
        env: context.io.env,
        logger: cliLogger((line) => out.note(line), flags.verbose === true),
        metrics: cliMetrics(),
      }),
    );
    out.line(
      `rotation function ${name} → ${handler}: arn:aws:lambda:${region}:${options.accountId}:function:${name}`,
    );
  }
  if (seed) out.line(`seeded ${seedRequests(seed).length} secret(s) from ${options.seed}`);
  out.line(`Local Secrets Manager endpoint listening on ${local.endpoint}`);
  out.line(
    `Use it with --endpoint-url ${local.endpoint} or AWS_ENDPOINT_URL_SECRETS_MANAGER=${local.endpoint} (any credentials). Ctrl-C stops it.`,
  );
  try {
    await untilStopped(context.io.signal);
  } finally {
    await local.close();
  }
  out.note('local endpoint stopped');
  return EXIT.OK;
}

/** Why the endpoint could not start, as the flag to fix. */
function startFailure(error: unknown, options: LocalEndpointOptions, seeded: boolean): UsageError {
  if (seeded && /^seed /.test((error as Error).message)) {
    return new UsageError(
      `--seed ${options.seed}: ${(error as Error).message}`,
      'fix that entry of the file',
    );
  }
  if (error instanceof TypeError) {
    return new UsageError(
      `--rate-limit: ${error.message}`,
      'e.g. --rate-limit RotateSecret=50,GetSecretValue=100',
    );
  }
  const code = (error as NodeJS.ErrnoException).code;
  return new UsageError(
    `cannot listen on ${options.host}:${options.port}${code ? ` (${code})` : ''}`,
    code === 'EADDRINUSE' ? 'pick another --port (0 picks a free one)' : 'check --host and --port',
  );
}
