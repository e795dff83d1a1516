/**
 * Issue 12 §2: TLS cannot be stripped. A server (or anyone on the path) answers "no TLS" and then
 * asks for the password in a form it can read: PostgreSQL cleartext or MD5, MySQL's cleartext
 * plugin, or a MySQL password encrypted to an RSA key the attacker sends. A secret writer sets
 * `"ssl": false`. Each attack runs through the source and through the built zip as deployed, and
 * the attacker's fake server must end up with no credential in any form.
 *
 * The controls: every database adapter still rotates against the real private test databases,
 * under `prefer` against servers without TLS and under `verify-full` against servers with a
 * certificate from the tests' own CA.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlAlternatingUsers, mysqlSingleUser } from '../../src/adapters/mysql/index.ts';
import { postgresAlternatingUsers, postgresSingleUser } from '../../src/adapters/postgres/index.ts';
import { scramSha256Verifier } from '../../src/adapters/postgres/scram.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import type { RotationTarget } from '../../src/core/target.ts';
import { mysqlTlsConnectionOptions } from '../../src/database/mysql-tls.ts';
import {
  type LocalSecretsManager,
  type RotationResult,
  rotateSecret,
  startLocalSecretsManager,
} from '../../src/testing/index.ts';
import { capturedOutput, trackSecrets } from '../support/leak-scan.ts';
import { type MariaDbInstance, startMariaDb } from '../support/mariadb.ts';
import { type PostgresInstance, startPostgres } from '../support/postgres.ts';
import { makeTestCertificates, type TestCertificates } from '../support/tls.ts';
import type { AttackerDatabase } from './support/attacker-databases.ts';
import { buildDeployedZips, type DeployedZips } from './support/deployed.ts';
import { credentialsIn, recordAttack } from './support/ledger.ts';
import { md5Answer, startPlaintextMysql, startPlaintextPostgres } from './support/tls-attackers.ts';
import attacks from './tls-attacks.json' with { type: 'json' };

const HANDLERS = {
  'postgres-single-user': () => postgresSingleUser(),
  'postgres-alternating-users': () => postgresAlternatingUsers(),
  'mysql-single-user': () => mysqlSingleUser(),
  'mysql-alternating-users': () => mysqlAlternatingUsers(),
} as const satisfies Record<string, () => RotationTarget<unknown>>;
type HandlerName = keyof typeof HANDLERS;
const RUNNERS = ['source', 'zip'] as const;
type Runner = (typeof RUNNERS)[number];

let sm: LocalSecretsManager;
let client: SecretsManagerClient;
let zips: DeployedZips;
let counter = 0;

beforeAll(async () => {
  sm = await startLocalSecretsManager();
  client = sm.client();
  zips = await buildDeployedZips(Object.keys(HANDLERS), sm);
});

afterAll(async () => {
  await zips?.close();
  await sm?.close();
});

function password(label: string): string {
  counter += 1;
  const value = `${label}-${counter}-${Math.random().toString(36).slice(2)}-Pw9`;
  trackSecrets(value);
  return value;
}

async function createSecret(name: string, value: object): Promise<string> {
  counter += 1;
  const text = JSON.stringify(value);
  trackSecrets(text);
  const created = await client.send(
    new CreateSecretCommand({ Name: `${name}-${counter}`, SecretString: text }),
  );
  return created.ARN!;
}

/** The AWSPENDING password a rotation generated, if it got that far. */
async function pendingPassword(secretId: string): Promise<string | undefined> {
  try {
    const answer = await client.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSPENDING' }),
    );
    const value = JSON.parse(answer.SecretString!) as { password?: string };
    trackSecrets(value.password);
    return value.password;
  } catch {
    return undefined;
  }
}

/** One rotation through the source (in this process) or the built zip (its own process). */
async function rotate(
  runner: Runner,
  handler: HandlerName,
  secretId: string,
  settings: Readonly<Record<string, string>>,
): Promise<{ result: RotationResult; output: string }> {
  if (runner === 'source') {
    const before = capturedOutput().length;
    const target = HANDLERS[handler]() as RotationTarget<unknown>;
    const rotation = createRotationHandler(target, { client, env: settings });
    const result = await rotateSecret({ client, secretId, handler: rotation });
    return { result, output: capturedOutput().slice(before) };
  }
  const deployed = await zips.start(handler, { ALLOWED_SECRET_IDS: secretId, ...settings });
  const result = await rotateSecret({ client, secretId, handler: deployed.handler });
  return { result, output: deployed.output() };
}

interface AttackPlan {
  readonly name: string;
  readonly handler: HandlerName;
  /** `<engine>:<what the fake server asks for>`. */
  readonly server: string;
  readonly settings: Readonly<Record<string, string>>;
  /** Fields the attacker writes into the secret. */
  readonly secret?: Readonly<Record<string, unknown>>;
  /** Parts of the error the rotation must fail with. */
  readonly expectError: readonly string[];
  /** Whether the client is expected to have sent a login at all (else only the TLS question). */
  readonly loginSent: boolean;
}

interface Attack extends AttackPlan {
  readonly engine: 'postgres' | 'mysql';
  readonly start: () => Promise<AttackerDatabase>;
}

// The attacks are data (test/security/tls-attacks.json): which fake server, settings and secret fields.
const ATTACKS = (attacks as unknown as readonly AttackPlan[]).map(
  (plan): Attack => ({
    ...plan,
    engine: plan.handler.startsWith('postgres') ? 'postgres' : 'mysql',
    start: () => startAttacker(plan.server),
  }),
);

function startAttacker(server: string): Promise<AttackerDatabase> {
  const [engine, request] = server.split(':');
  return engine === 'postgres'
    ? startPlaintextPostgres(request as Parameters<typeof startPlaintextPostgres>[0])
    : startPlaintextMysql(request as Parameters<typeof startPlaintextMysql>[0]);
}

describe.each(RUNNERS)('TLS stripping attacks, %s', (runner) => {
  it.each(ATTACKS.map((attack) => [attack.name, attack] as const))(
    '%s: refused, no credential reaches the attacker',
    async (_name, attack) => {
      const attacker = await attack.start();
      try {
        const current = password('current');
        const master = password('master');
        const masterarn = await createSecret('tls-master', {
          username: 'admin',
          password: master,
          host: attacker.host,
          port: attacker.port,
        });
        const secretId = await createSecret(`tls-${attack.handler}`, {
          engine: attack.engine,
          host: attacker.host,
          port: attacker.port,
          username: 'app',
          password: current,
          ...(attack.handler.endsWith('alternating-users') ? { masterarn } : {}),
          ...attack.secret,
        });
        const { result, output } = await rotate(runner, attack.handler, secretId, attack.settings);
        const pending = await pendingPassword(secretId);
        const credentials = [current, master, ...(pending ? [pending] : [])];
        const received = Buffer.concat(attacker.received).toString('latin1');
        const leaked = [
          ...credentialsIn(attacker.received, credentials),
          ...credentials.filter((credential) =>
            ['app', 'app_clone', 'admin'].some((user) => received.includes(md5Answer(credential, user))),
          ),
        ];
        recordAttack({
          attack: `${attack.handler} (${runner}): ${attack.name}`,
          blocked: !result.ok && leaked.length === 0,
          leaked: leaked.length,
        });

        expect(leaked, 'a credential reached the attacker').toEqual([]);
        expect(result.ok).toBe(false);
        for (const part of attack.expectError) expect(result.error).toContain(part);
        // The attacker was reached: the refusal came from the TLS rules, not from a missed server.
        expect(attacker.connections()).toBeGreaterThan(0);
        expect(attacker.logins.length > 0).toBe(attack.loginSent);
        for (const credential of credentials) {
          expect(output).not.toContain(credential);
          expect(result.error).not.toContain(credential);
        }
      } finally {
        await attacker.close();
      }
    },
  );
});

describe('MYSQL_SERVER_PUBLIC_KEY: without TLS, the password goes only to the pinned key', () => {
  // The fake server plays the real one here: the pinned key is its own, so it can read the answer.
  it.each(['caching-sha2-rsa', 'sha256-rsa'] as const)(
    "%s: encrypted to the pinned key at once, never asking for the server's",
    async (request) => {
      const server = await startPlaintextMysql(request);
      const other = await startPlaintextMysql(request);
      try {
        const secret = password('pinned');
        const attempt = async (pinned: string) => {
          const options = mysqlTlsConnectionOptions(
            { mode: 'prefer', variable: 'MYSQL_TLS_MODE', ca: undefined, serverPublicKey: pinned },
            { host: server.host, port: server.port },
          );
          const connection = await mysql
            .createConnection({
              host: server.host,
              port: server.port,
              user: 'app',
              password: secret,
              ...options,
            })
            .catch((error: unknown) => error);
          if (connection && typeof (connection as { end?: unknown }).end === 'function') {
            await (connection as { end(): Promise<void> }).end();
          }
        };

        await attempt(server.publicKeyPem);
        // The server decrypted the answer with its private key: the client encrypted to it
        // correctly, and the whole exchange needed no key from the server.
        expect(credentialsIn(server.received, [secret])).toEqual([secret]);
        const sent = Buffer.concat(server.received);
        expect(sent.includes(Buffer.from(server.publicKeyPem))).toBe(false);

        // A key pinned for another server: this one cannot read what it receives.
        const before = server.received.length;
        await attempt(other.publicKeyPem);
        expect(credentialsIn(server.received.slice(before), [secret])).toEqual([]);
      } finally {
        await Promise.all([server.close(), other.close()]);
      }
    },
  );
});

describe('controls: every adapter still rotates against the real private databases', () => {
  let certDir: string;
  let certs: TestCertificates;
  let pgPlain: PostgresInstance;
  let pgTls: PostgresInstance;
  let mariaPlain: MariaDbInstance;
  let mariaTls: MariaDbInstance;

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'security-tls-'));
    // The tests' own CA; the server certificate names 127.0.0.1, where the secrets point.
    certs = await makeTestCertificates(certDir);
    const tls = { cert: certs.certPath, key: certs.keyPath };
    [pgPlain, pgTls, mariaPlain, mariaTls] = await Promise.all([
      startPostgres(),
      startPostgres({ tls }),
      startMariaDb(),
      startMariaDb({ tls }),
    ]);
    trackSecrets(pgPlain.superuser.password, pgTls.superuser.password);
    trackSecrets(mariaPlain.root.password, mariaTls.root.password);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([pgPlain?.stop(), pgTls?.stop(), mariaPlain?.stop(), mariaTls?.stop()]);
    if (certDir) await rm(certDir, { recursive: true, force: true });
  });

  const MODES = [
    { mode: 'prefer', outcome: 'plaintext' },
    { mode: 'verify-full', outcome: 'verified' },
  ] as const;
  const cases = Object.keys(HANDLERS).flatMap((handler) =>
    MODES.flatMap(({ mode, outcome }) =>
      RUNNERS.map((runner) => [handler as HandlerName, mode, outcome, runner] as const),
    ),
  );

  it.each(cases)('%s under %s (%s TLS), %s', async (handler, mode, outcome, runner) => {
    const postgres = handler.startsWith('postgres');
    const withTls = mode === 'verify-full';
    const user = `tls_app_${++counter}`;
    const initial = password('initial');
    let location: { host: string; port: number };
    let admin: { username: string; password: string };
    if (postgres) {
      const db = withTls ? pgTls : pgPlain;
      // The password reaches the server as a SCRAM verifier only.
      await db.query(`CREATE ROLE ${user} LOGIN PASSWORD '${scramSha256Verifier(initial)}'`);
      location = { host: db.host, port: db.port };
      admin = db.superuser;
    } else {
      const db = withTls ? mariaTls : mariaPlain;
      await db.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, initial]);
      location = { host: db.host, port: db.port };
      admin = db.root;
    }
    const masterarn = await createSecret('tls-control-master', { ...admin, ...location });
    const secretId = await createSecret(`tls-control-${handler}`, {
      engine: postgres ? 'postgres' : 'mariadb',
      ...location,
      username: user,
      password: initial,
      ...(postgres ? { dbname: 'postgres' } : {}),
      ...(handler.endsWith('alternating-users') ? { masterarn } : {}),
    });
    const prefix = postgres ? 'PG' : 'MYSQL';
    const settings = {
      [`${prefix}_TLS_MODE`]: mode,
      ...(withTls ? { [`${prefix}_CA_BUNDLE`]: certs.caPath } : {}),
    };

    const { result, output } = await rotate(runner, handler, secretId, settings);
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(output).toContain(`"tls":"${outcome}"`);
    expect(output).not.toContain(`"tls":"${outcome === 'verified' ? 'plaintext' : 'verified'}"`);
  });
});
