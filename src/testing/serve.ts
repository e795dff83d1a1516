/**
 * Runs the local Secrets Manager endpoint as a process, for offline use and other tools' tests:
 * `npx node src/testing/serve.ts --port 4566`. The operator CLI wraps it as
 * `secrets-rotator local-endpoint`.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseRateLimits } from './rate-limit.ts';
import { readSeedFile } from './seed.ts';
import { type LocalSecretsManager, startLocalSecretsManager } from './server.ts';

const USAGE = `Usage: serve [--port N] [--host ADDRESS] [--region REGION] [--account-id ID] [--latency-ms MS] [--rate-limit OP=N,…] [--seed FILE] [--allow-origin ORIGIN]… [--allow-host NAME]… [--verbose]

Starts a local AWS Secrets Manager endpoint (in memory, nothing persisted).
  --port        TCP port (default 4566; 0 picks a free one)
  --host        address to listen on (default 127.0.0.1; anything but loopback prints a warning)
  --region      region used in ARNs (default us-east-1)
  --account-id  account id used in ARNs (default 123456789012)
  --latency-ms  milliseconds added to every call, to play the network (default 0)
  --rate-limit  requests per second per operation, e.g. RotateSecret=50,GetSecretValue=100;
                requests over the rate get ThrottlingException, as from the service
  --seed        JSON file of secrets to start with: {"name": "value", ...} or [{"Name", "SecretString"}, ...]
  --allow-origin  let web pages from this origin call it, e.g. http://localhost:3000 (repeatable);
                requests carrying any other Origin header are refused
  --allow-host  serve requests addressed to this host name too (repeatable); loopback names always are
  --verbose     print one line per request (operation, status, error code; never values)

Point a client at it: AWS_ENDPOINT_URL_SECRETS_MANAGER=<printed URL>, any credentials.`;

/** Where the CLI writes. Defaults to the process's stdout and stderr. */
export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

const processOutput: CliOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/**
 * Parses the arguments, starts the endpoint and prints its URL. Returns the running endpoint (the
 * caller closes it), or undefined after `--help`. A bad argument throws an Error naming it.
 */
export async function runLocalSecretsManagerCli(
  argv: readonly string[],
  output: CliOutput = processOutput,
): Promise<LocalSecretsManager | undefined> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string', default: '4566' },
      host: { type: 'string', default: '127.0.0.1' },
      region: { type: 'string', default: 'us-east-1' },
      'account-id': { type: 'string', default: '123456789012' },
      'latency-ms': { type: 'string', default: '0' },
      'rate-limit': { type: 'string' },
      seed: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'allow-origin': { type: 'string', multiple: true, default: [] },
      'allow-host': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    output.out(USAGE);
    return undefined;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be a whole number from 0 to 65535, got "${values.port}"`);
  }
  if (!/^\d{12}$/.test(values['account-id'])) {
    throw new Error(`--account-id must be 12 digits, got "${values['account-id']}"`);
  }
  const latencyMs = Number(values['latency-ms']);
  if (!/^\d+$/.test(values['latency-ms']) || latencyMs > 60_000) {
    throw new Error(`--latency-ms must be a whole number from 0 to 60000, got "${values['latency-ms']}"`);
  }
  const rateLimits = values['rate-limit'] === undefined ? undefined : parseRateLimits(values['rate-limit']);
  const seed = values.seed === undefined ? undefined : await readSeedFile(values.seed);
  const local = await startLocalSecretsManager({
    ...(rateLimits ? { rateLimits } : {}),
    port,
    latencyMs,
    ...(seed ? { seed } : {}),
    host: values.host,
    allowedOrigins: values['allow-origin'],
    allowedHosts: values['allow-host'],
    onWarning: (message) => output.err(`warning: ${message}`),
    region: values.region,
    accountId: values['account-id'],
    log: values.verbose ? (line) => output.err(line) : undefined,
  });
  output.out(`Local Secrets Manager endpoint listening on ${local.endpoint}`);
  return local;
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  try {
    const local = await runLocalSecretsManagerCli(process.argv.slice(2));
    if (local) {
      const stop = () => {
        local.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    process.exitCode = 2;
  }
}
