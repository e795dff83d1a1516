/**
 * The bad-input corpus (issue 9): malformed events, secrets that are not JSON, wrong types, missing
 * fields, huge values, unknown engines, unusable pending values and master secrets, for every
 * adapter. Each must end in a clear error naming the field (or the limit), and change nothing:
 * the secret's versions and labels and the target's state (users and password digests, API keys)
 * are compared before and after the step that refused, and from the start of the case to its end.
 * The service's retry must be refused the same way.
 */
import { randomUUID } from 'node:crypto';
import { GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventError, RotationError } from '../../src/core/errors.ts';
import type { RotationEvent, RotationHandler } from '../../src/core/event.ts';
import type { RotationStep } from '../../src/core/target.ts';
import { type RotationResult, rotateSecret } from '../../src/testing/index.ts';
import type { MariaDbInstance } from '../support/mariadb.ts';
import type { PostgresInstance } from '../support/postgres.ts';
import type { RedisInstance } from '../support/redis.ts';
import type { SshdInstance } from '../support/sshd.ts';
import { CaseRig, trackValue } from './support/fault-case.ts';
import { ADAPTERS, type AdapterName, scenarioFor } from './support/scenarios.ts';
import { CaseTally, startServers, stopServers } from './support/servers.ts';

let postgres: PostgresInstance;
let mariadb: MariaDbInstance;
let redis: RedisInstance;
let sshd: SshdInstance;
const tally = new CaseTally('bad input');

beforeAll(async () => {
  ({ postgres, mariadb, redis, sshd } = await startServers());
});

afterAll(async () => {
  await stopServers({ postgres, mariadb, redis, sshd });
  tally.record();
});

/** The message a SecretShapeError gives for a field. */
function namesField(field: string): RegExp {
  return new RegExp(`Secret field "${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`);
}

/** Counts a case; `check` throws on failure (the case stays unclean). */
const countCase = <T>(check: () => Promise<T>): Promise<T> => tally.count(check);

// ---------------------------------------------------------------------------------------------
// Malformed events

const HUGE = 'x'.repeat(70_000);

/** Events the service would never send, and the field each must be reported under. */
const BAD_EVENTS: Array<[string, (good: RotationEvent) => unknown, string]> = [
  ['null', () => null, '(event)'],
  ['a string', () => 'createSecret', '(event)'],
  ['a number', () => 42, '(event)'],
  ['an array', (good) => [good], '(event)'],
  ['an empty object', () => ({}), 'SecretId'],
  ['SecretId missing', ({ SecretId: _, ...rest }) => rest, 'SecretId'],
  ['SecretId a number', (good) => ({ ...good, SecretId: 42 }), 'SecretId'],
  ['SecretId null', (good) => ({ ...good, SecretId: null }), 'SecretId'],
  ['SecretId empty', (good) => ({ ...good, SecretId: '' }), 'SecretId'],
  ['SecretId blank', (good) => ({ ...good, SecretId: '   ' }), 'SecretId'],
  ['SecretId a list', (good) => ({ ...good, SecretId: [good.SecretId] }), 'SecretId'],
  ['SecretId huge (70 000 characters)', (good) => ({ ...good, SecretId: HUGE }), 'SecretId'],
  ['ClientRequestToken missing', ({ ClientRequestToken: _, ...rest }) => rest, 'ClientRequestToken'],
  [
    'ClientRequestToken an object',
    (good) => ({ ...good, ClientRequestToken: { id: 1 } }),
    'ClientRequestToken',
  ],
  ['ClientRequestToken huge', (good) => ({ ...good, ClientRequestToken: HUGE }), 'ClientRequestToken'],
  ['Step missing', ({ Step: _, ...rest }) => rest, 'Step'],
  ['Step a number', (good) => ({ ...good, Step: 1 }), 'Step'],
  ['Step empty', (good) => ({ ...good, Step: '' }), 'Step'],
  ['Step huge', (good) => ({ ...good, Step: HUGE }), 'Step'],
  ['RotationToken a number', (good) => ({ ...good, RotationToken: 5 }), 'RotationToken'],
  ['RotationToken empty', (good) => ({ ...good, RotationToken: '' }), 'RotationToken'],
  ['RotationToken huge', (good) => ({ ...good, RotationToken: HUGE }), 'RotationToken'],
];

describe.each(ADAPTERS)('%s: malformed events', (adapter) => {
  let rig: CaseRig;
  let handler: RotationHandler;
  let good: RotationEvent;

  beforeAll(async () => {
    rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
    handler = rig.handler();
    const versionId = randomUUID();
    await rig.sm.registerPendingVersion(rig.secretArn, versionId);
    good = { Step: 'createSecret', SecretId: rig.secretArn, ClientRequestToken: versionId };
  });
  afterAll(async () => {
    await rig?.close();
  });

  it.each(BAD_EVENTS)(
    '%s: an EventError naming the field, before any call, nothing changed',
    async (_name, make, field) => {
      await countCase(async () => {
        const before = await rig.state();
        const calls = rig.sm.calls.length;
        const error = await handler(make(good) as RotationEvent).then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(EventError);
        expect((error as EventError).field).toBe(field);
        expect((error as Error).message).toContain(`Rotation event field ${field} `);
        // Checked before the first Secrets Manager call.
        expect(rig.sm.calls.length).toBe(calls);
        expect(await rig.state()).toEqual(before);
      });
    },
  );

  it('an unknown step: "invalid step" after the label checks, nothing changed', async () => {
    await countCase(async () => {
      const before = await rig.state();
      await expect(handler({ ...good, Step: 'dropEverything' })).rejects.toThrow(
        /invalid step "dropEverything"/,
      );
      expect(await rig.state()).toEqual(before);
    });
  });

  it('a secret that does not exist: a Secrets Manager error naming the operation, nothing changed', async () => {
    await countCase(async () => {
      const before = await rig.state();
      await expect(handler({ ...good, SecretId: `${rig.secretArn}-gone` })).rejects.toThrow(
        /Secrets Manager DescribeSecret failed with ResourceNotFoundException/,
      );
      expect(await rig.state()).toEqual(before);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Bad secret values

/** One bad value: a name, how to make it from the good value, and what must refuse it. */
interface BadValue {
  readonly name: string;
  readonly make: (good: string) => string;
  /** The step that must refuse it, and a pattern its error must match. */
  readonly step: RotationStep;
  readonly error: RegExp;
  /** Store the bad value as AWSPREVIOUS too, so that no stored version holds working credentials. */
  readonly alsoPrevious?: boolean;
}

function edit(change: (fields: Record<string, unknown>) => void): (good: string) => string {
  return (good) => {
    const fields = JSON.parse(good) as Record<string, unknown>;
    change(fields);
    return JSON.stringify(fields);
  };
}

const set = (field: string, value: unknown) =>
  edit((fields) => {
    fields[field] = value;
  });
const without = (field: string) =>
  edit((fields) => {
    delete fields[field];
  });

/** Pads a value with an unknown field up to the service's 65 536-character limit. */
const atSizeLimit = edit((fields) => {
  fields.notes = '';
  fields.notes = 'n'.repeat(65_536 - JSON.stringify(fields).length);
});

function shape(name: string, make: (good: string) => string, field: string): BadValue {
  return { name, make, step: 'createSecret', error: namesField(field) };
}

function databaseCorpus(family: 'postgres' | 'mysql' | 'redis', alternating: boolean): BadValue[] {
  const longestName = family === 'postgres' ? 63 : family === 'mysql' ? 80 : 256;
  const corpus: BadValue[] = [
    shape('not JSON (truncated)', (good) => good.slice(0, -7), '(value)'),
    shape('a JSON array', () => '[1, 2, 3]', '(value)'),
    shape('JSON null', () => 'null', '(value)'),
    shape('a JSON string holding the secret', (good) => JSON.stringify(good), '(value)'),
    shape('engine missing', without('engine'), 'engine'),
    shape('engine unknown (oracle)', set('engine', 'oracle'), 'engine'),
    shape(
      'engine of the other adapter',
      set('engine', family === 'postgres' ? 'mysql' : 'postgres'),
      'engine',
    ),
    shape('engine a number', set('engine', 5), 'engine'),
    shape('host missing', without('host'), 'host'),
    shape('host a number', set('host', 127001), 'host'),
    shape('host empty', set('host', ''), 'host'),
    shape('username missing', without('username'), 'username'),
    shape('username a list', set('username', ['app']), 'username'),
    shape(`username longer than ${longestName}`, set('username', 'u'.repeat(longestName + 1)), 'username'),
    shape('username huge (60 000 characters)', set('username', 'u'.repeat(60_000)), 'username'),
    shape('password missing', without('password'), 'password'),
    shape('password a number', set('password', 12_345_678), 'password'),
    shape('password empty', set('password', ''), 'password'),
    shape('password with a NUL', set('password', 'before\u0000after-nul'), 'password'),
    shape('port not a number', set('port', 'fivefour'), 'port'),
    shape('port out of range', set('port', 70_000), 'port'),
    shape('port an object', set('port', {}), 'port'),
    shape('ssl an unknown word', set('ssl', 'maybe'), 'ssl'),
    shape('dbname a number', set('dbname', 5), 'dbname'),
    shape('masterarn a number', set('masterarn', 5), 'masterarn'),
    {
      name: 'a value at the 64 KB limit, so the next version does not fit',
      make: atSizeLimit,
      step: 'createSecret',
      // Measured before PutSecretValue, naming the field that grew.
      error:
        /Secret field "(password|username)" would make the new version \d+ bytes long \(the current one is 65536\), over Secrets Manager's limit of 65536 bytes/,
    },
    {
      // In AWSPREVIOUS too: single-user rotation would rightly log in with a working previous version.
      name: 'a huge password (60 000 characters) that is not the real one, in AWSCURRENT and AWSPREVIOUS',
      make: set('password', 'p'.repeat(60_000)),
      step: 'setSecret',
      error: /authentication failure/,
      alsoPrevious: true,
    },
  ];
  if (alternating) corpus.push(shape('masterarn missing', without('masterarn'), 'masterarn'));
  return corpus;
}

/** The Redis corpus, a user id, and ElastiCache's password rules checked before anything is sent. */
function elastiCacheCorpus(): BadValue[] {
  return [
    ...databaseCorpus('redis', false).filter((value) => !value.name.startsWith('a huge password')),
    shape('userId missing', without('userId'), 'userId'),
    shape('userId not an ElastiCache user id', set('userId', '9 lives'), 'userId'),
    {
      name: 'a current password ElastiCache cannot hold (60 000 characters), in AWSCURRENT and AWSPREVIOUS',
      make: set('password', 'p'.repeat(60_000)),
      step: 'setSecret',
      error: /Secret field "password" \(AWSCURRENT\) is 60000 characters long; ElastiCache takes 16 to 128/,
      alsoPrevious: true,
    },
  ];
}

/** The field holding the credential, for adapters other than random-secret. */
function secretFieldOf(adapter: AdapterName): string {
  return adapter === 'http-api-key'
    ? 'apiKey'
    : adapter === 'oauth-client-secret'
      ? 'clientSecret'
      : adapter === 'ssh-keys'
        ? 'privateKey'
        : 'password';
}

function oauthCorpus(): BadValue[] {
  return [
    shape('not JSON (truncated)', (good) => good.slice(0, -7), '(value)'),
    shape('a JSON array', () => '[]', '(value)'),
    shape('clientSecret missing', without('clientSecret'), 'clientSecret'),
    shape('clientSecret a number', set('clientSecret', 5), 'clientSecret'),
    shape('clientSecret empty', set('clientSecret', ''), 'clientSecret'),
    shape('secretId an object', set('secretId', { id: 1 }), 'secretId'),
    shape("a rotation block (the configuration is the function's)", set('rotation', {}), 'rotation'),
    shape('clientId naming another client', set('clientId', 'someone-else'), 'clientId'),
  ];
}

function apiKeyCorpus(): BadValue[] {
  const rotation = (change: (config: Record<string, unknown>) => void) =>
    edit((fields) => {
      change(fields.rotation as Record<string, unknown>);
    });
  return [
    shape('not JSON (truncated)', (good) => good.slice(0, -7), '(value)'),
    shape('a JSON array', () => '[]', '(value)'),
    shape('apiKey missing', without('apiKey'), 'apiKey'),
    shape('apiKey a number', set('apiKey', 5), 'apiKey'),
    shape('apiKey empty', set('apiKey', ''), 'apiKey'),
    shape('keyId an object', set('keyId', { id: 1 }), 'keyId'),
    shape('the rotation block missing', without('rotation'), 'rotation'),
    shape('the rotation block a string', set('rotation', 'mint please'), 'rotation'),
    shape(
      'rotation.baseUrl missing',
      rotation((config) => {
        delete config.baseUrl;
      }),
      'rotation.baseUrl',
    ),
    shape(
      'rotation.baseUrl not http(s)',
      rotation((config) => {
        config.baseUrl = 'ftp://127.0.0.1/keys';
      }),
      'rotation.baseUrl',
    ),
    shape(
      'rotation.mint.request.method unknown',
      rotation((config) => {
        (config.mint as { request: Record<string, unknown> }).request.method = 'FETCH';
      }),
      'rotation.mint.request.method',
    ),
    shape(
      'rotation.http.timeoutMs negative',
      rotation((config) => {
        (config.http as Record<string, unknown>).timeoutMs = -5;
      }),
      'rotation.http.timeoutMs',
    ),
    {
      name: 'a huge apiKey (60 000 characters) the provider does not know',
      make: set('apiKey', `tk_${'k'.repeat(60_000)}`),
      step: 'createSecret',
      error: /mint request POST \/keys/,
    },
  ];
}

function sshKeysCorpus(): BadValue[] {
  return [
    shape('not JSON (truncated)', (good) => good.slice(0, -7), '(value)'),
    shape('a JSON array', () => '[]', '(value)'),
    shape('privateKey missing', without('privateKey'), 'privateKey'),
    shape('privateKey a number', set('privateKey', 5), 'privateKey'),
    shape('privateKey not PEM', set('privateKey', 'not-a-key-at-all'), 'privateKey'),
    shape(
      'privateKey a PEM that is no key',
      set('privateKey', '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n'),
      'privateKey',
    ),
    shape(
      'publicKey not the pair of privateKey',
      set('publicKey', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKeyOt'),
      'publicKey',
    ),
    shape('publicKey garbage', set('publicKey', 'ssh-ed25519 !!'), 'publicKey'),
    shape('username missing', without('username'), 'username'),
    shape('username with a space', set('username', 'root admin'), 'username'),
    shape('hosts missing', without('hosts'), 'hosts'),
    shape('hosts empty', set('hosts', []), 'hosts'),
    shape('hosts a string', set('hosts', '127.0.0.1'), 'hosts'),
    shape('a host with a bad port', set('hosts', ['127.0.0.1:99999']), 'hosts[0]'),
    shape('a host with a space', set('hosts', ['bad host']), 'hosts[0]'),
    shape('hostKeys a list', set('hostKeys', ['SHA256:x']), 'hostKeys'),
    {
      name: 'hostKeys pinning garbage',
      make: edit((fields) => {
        fields.hostKeys = { [(fields.hosts as string[])[0]!]: 'md5:00' };
      }),
      step: 'createSecret',
      error: /Secret field "hostKeys\.127\.0\.0\.1:\d+" is not a host with SHA256 fingerprints/,
    },
    shape(
      'authorizedKeysFile with ".."',
      set('authorizedKeysFile', '~/../../etc/passwd'),
      'authorizedKeysFile',
    ),
    shape(
      'authorizedKeysFile with a quote',
      set('authorizedKeysFile', "~/.ssh/keys'; rm -rf ~"),
      'authorizedKeysFile',
    ),
    shape('keyType unknown', set('keyType', 'dsa'), 'keyType'),
    shape('keyBits too small for RSA', set('keyBits', 1024), 'keyBits'),
  ];
}

function randomSecretCorpus(): BadValue[] {
  return [
    shape('not JSON, with RANDOM_SECRET_FIELD set', () => 'token=abc', '(value)'),
    shape('a JSON array, with RANDOM_SECRET_FIELD set', () => '["token"]', '(value)'),
    shape('the field a number', () => JSON.stringify({ token: 12345, owner: 'x' }), 'token'),
  ];
}

function corpusFor(adapter: AdapterName): BadValue[] {
  switch (adapter) {
    case 'random-secret':
      return randomSecretCorpus();
    case 'postgres-single-user':
      return databaseCorpus('postgres', false);
    case 'postgres-alternating-users':
      return databaseCorpus('postgres', true);
    case 'mysql-single-user':
      return databaseCorpus('mysql', false);
    case 'mysql-alternating-users':
      return databaseCorpus('mysql', true);
    case 'http-api-key':
      return apiKeyCorpus();
    case 'oauth-client-secret':
      return oauthCorpus();
    case 'redis-single-user':
    case 'redis-password-overlap':
      return databaseCorpus('redis', false);
    case 'redis-alternating-users':
      return databaseCorpus('redis', true);
    case 'ssh-keys':
      return sshKeysCorpus();
    case 'elasticache-user':
      return elastiCacheCorpus();
  }
}

/** The environment a case needs beyond the scenario's. */
function envFor(adapter: AdapterName): Record<string, string> {
  return adapter === 'random-secret' ? { RANDOM_SECRET_FIELD: 'token' } : {};
}

/**
 * Runs the rotation as the service does (and its retry), recording the state before and after
 * every step; checks the refusing step, its message, and that nothing changed.
 */
async function expectRefused(
  rig: CaseRig,
  handler: RotationHandler,
  expected: { step: RotationStep; error: RegExp },
  secrets: readonly string[],
  run: { versionId?: string; resume?: boolean } = {},
): Promise<RotationResult> {
  const startTarget = await rig.prepared.fingerprint();
  let refused: { before: unknown; after: unknown } | undefined;
  const watched: RotationHandler = async (event, context) => {
    const before = await rig.state();
    try {
      await handler(event, context);
    } catch (error) {
      refused = { before, after: await rig.state() };
      throw error;
    }
  };
  const result = await rotateSecret({
    client: rig.direct,
    secretId: rig.secretArn,
    handler: watched,
    ...run,
  });
  expect(result.ok).toBe(false);
  expect(result.failedStep).toBe(expected.step);
  expect(result.cause).toBeInstanceOf(RotationError);
  expect(result.error).toMatch(expected.error);
  // Clear means short too: a message never quotes a huge value whole.
  expect(result.error!.length).toBeLessThan(2_000);
  for (const secret of secrets) expect(result.error).not.toContain(secret);
  expect(refused?.after, 'the refusing step changed nothing').toEqual(refused?.before);
  expect(await rig.prepared.fingerprint(), 'the target is as at the start').toBe(startTarget);
  return result;
}

/** The secret strings of a value (whole value, password, key) that no message may hold. */
function secretsOf(value: string): string[] {
  trackValue(value);
  const found = [value];
  try {
    const fields = JSON.parse(value) as Record<string, unknown>;
    for (const name of ['password', 'apiKey', 'privateKey']) {
      const field = fields[name];
      if (typeof field === 'string' && field.length >= 6) found.push(field);
    }
  } catch {
    // Not JSON: the whole value is the secret.
  }
  return found;
}

describe.each(ADAPTERS)('%s: bad secret values', (adapter) => {
  const badCurrent = async (entry: BadValue): Promise<void> => {
    const rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
    try {
      const good = (await rig.current()).value!;
      const base = adapter === 'random-secret' ? JSON.stringify({ token: good, owner: 'reliability' }) : good;
      const bad = entry.make(base);
      const secrets = [...secretsOf(good), ...secretsOf(bad)];
      await rig.direct.send(new PutSecretValueCommand({ SecretId: rig.secretArn, SecretString: bad }));
      if (entry.alsoPrevious) {
        const again = edit((fields) => {
          fields.copy = 2;
        })(bad);
        secrets.push(...secretsOf(again));
        await rig.direct.send(new PutSecretValueCommand({ SecretId: rig.secretArn, SecretString: again }));
      }
      const handler = rig.handler({ env: envFor(adapter) });
      const first = await expectRefused(rig, handler, entry, secrets);
      // The service retries the same version later: refused the same way.
      await expectRefused(rig, handler, entry, secrets, { versionId: first.versionId, resume: true });
    } finally {
      await rig.close();
    }
  };
  const corpus = corpusFor(adapter);
  const rows = (entries: BadValue[]) => entries.map((entry) => [entry.name, entry] as const);

  it.each(rows(corpus))(
    'AWSCURRENT %s: refused with a clear error, nothing changed, the retry refused the same way',
    async (_name, entry) => {
      await countCase(() => badCurrent(entry));
    },
  );

  const pendingCorpus: Array<[string, (good: string) => string, string]> = [
    ['not JSON', () => 'garbage, not JSON', '(value)'],
    [
      'missing its secret field',
      (good: string): string =>
        adapter === 'random-secret'
          ? JSON.stringify({ owner: 'x', token: 5 })
          : without(secretFieldOf(adapter))(good),
      adapter === 'random-secret' ? 'token' : secretFieldOf(adapter),
    ],
  ];
  it.each(pendingCorpus)(
    'an AWSPENDING value %s (a manual edit mid-rotation): createSecret refuses it and says how to clear it, never regenerates',
    async (_name, make, field) => {
      await countCase(async () => {
        const rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
        try {
          const good = (await rig.current()).value!;
          const base =
            adapter === 'random-secret' ? JSON.stringify({ token: good, owner: 'reliability' }) : good;
          if (adapter === 'random-secret') {
            await rig.direct.send(new PutSecretValueCommand({ SecretId: rig.secretArn, SecretString: base }));
          }
          const bad = make(base);
          const versionId = randomUUID();
          await rig.sm.registerPendingVersion(rig.secretArn, versionId);
          await rig.sm.fillPendingVersion(rig.secretArn, versionId, bad);
          const handler = rig.handler({ env: envFor(adapter) });
          const result = await expectRefused(
            rig,
            handler,
            { step: 'createSecret', error: namesField(field) },
            [...secretsOf(good), ...secretsOf(bad)],
            { versionId, resume: true },
          );
          expect(result.error).toMatch(/remove the AWSPENDING label/);
          expect((await rig.versions()).find((version) => version.id === versionId)?.value).toBe(bad);
        } finally {
          await rig.close();
        }
      });
    },
  );
});

describe.each(['postgres-alternating-users', 'mysql-alternating-users'] as const)(
  '%s: bad master secrets',
  (adapter) => {
    it.each([
      [
        'not JSON',
        () => 'master: root / hunter2-not-json',
        /Secret field "masterarn" names secret \S+, whose value is/,
      ],
      [
        'without a password',
        (master: string) => without('password')(master),
        /Secret field "masterarn" names secret \S+, which has no non-empty string "password"/,
      ],
      [
        'with a password that is wrong',
        (master: string) => set('password', 'Wrong-Master-Pw-1')(master),
        /authentication failure/,
      ],
    ] as const)(
      'a master secret %s: setSecret refuses before any change to users',
      async (_name, make, error) => {
        await countCase(async () => {
          const rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
          try {
            const good = (await rig.current()).value!;
            const masterArn = String((JSON.parse(good) as Record<string, unknown>).masterarn);
            const master = await rig.direct.send(new GetSecretValueCommand({ SecretId: masterArn }));
            const bad = make(master.SecretString!);
            trackValue(bad);
            await rig.direct.send(new PutSecretValueCommand({ SecretId: masterArn, SecretString: bad }));
            const handler = rig.handler();
            await expectRefused(rig, handler, { step: 'setSecret', error }, [
              ...secretsOf(good),
              ...secretsOf(master.SecretString!),
              ...secretsOf(bad),
            ]);
          } finally {
            await rig.close();
          }
        });
      },
    );

    it('a masterarn naming no secret: setSecret refuses, nothing changed', async () => {
      await countCase(async () => {
        const rig = await CaseRig.open(scenarioFor(adapter, { postgres, mariadb, redis, sshd }));
        try {
          const good = (await rig.current()).value!;
          const bad = set('masterarn', `${rig.secretArn}-no-such-master`)(good);
          await rig.direct.send(new PutSecretValueCommand({ SecretId: rig.secretArn, SecretString: bad }));
          await expectRefused(
            rig,
            rig.handler(),
            {
              step: 'setSecret',
              error: /GetSecretValue failed with ResourceNotFoundException|has no AWSCURRENT value/,
            },
            [...secretsOf(good), ...secretsOf(bad)],
          );
        } finally {
          await rig.close();
        }
      });
    });
  },
);
