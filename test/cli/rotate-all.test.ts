import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { startLocalSecretsManager } from '../../src/testing/server.ts';
import {
  BROKEN_ROTATOR,
  type CliFixture,
  GOOD_ROTATOR,
  quietHandler,
  secretValue,
  startCliFixture,
  trackCurrent,
} from './fixtures.ts';
import { cli } from './run.ts';

let fixture: CliFixture;
let stateDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  fixture = await startCliFixture();
  stateDir = await mkdtemp(join(tmpdir(), 'rotate-all-'));
  env = { PASSWORD_GENERATOR: 'local', XDG_STATE_HOME: stateDir };
});
afterAll(async () => {
  await fixture.close();
  await rm(stateDir, { recursive: true, force: true });
});

const run = (argv: string[]) =>
  cli([...argv, '--endpoint-url', fixture.local.endpoint], { env, now: fixture.clock.now });

async function create(name: string, tags: Record<string, string> = {}, lambda: string | null = GOOD_ROTATOR) {
  const answer = await fixture.client.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: secretValue(),
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  if (lambda) fixture.local.attachRotationFunction(answer.ARN!, lambda);
  return answer.ARN!;
}

async function versions(arn: string) {
  const answer = await fixture.client.send(
    new ListSecretVersionIdsCommand({ SecretId: arn, IncludeDeprecated: true }),
  );
  return answer.Versions ?? [];
}

async function labels(arn: string) {
  return (await fixture.client.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages ?? {};
}

/** The number of rotations the endpoint ran for `arn`, successful ones only. */
function rotationsOf(arn: string) {
  return fixture.local.rotations.filter((run) => run.secretArn === arn && run.ok).length;
}

describe('rotate --all: selection, confirmation, usage', () => {
  it('lists the secrets every filter matches and stops with --dry-run, changing nothing', async () => {
    const paymentsA = await create('sel/prod/payments-a', { team: 'payments' });
    await create('sel/prod/payments-b', { team: 'payments' });
    await create('sel/prod/search', { team: 'search' });
    await create('sel/staging/payments', { team: 'payments' });
    // A tag-value prefix must not match: the service's filter is a prefix match, ours is exact.
    await create('sel/prod/payments-x', { team: 'payments-x' });
    const callsBefore = fixture.local.callsTo('RotateSecret').length;
    const result = await run([
      'rotate',
      '--all',
      '--filter',
      'name=sel/prod/',
      '--filter',
      'tag:team=payments',
      '--via-service',
      '--dry-run',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('2 secret(s) match (name=sel/prod/ and tag:team=payments)');
    expect(result.stdout).toMatch(/sel\/prod\/payments-a\s+good-rotator\s+never/);
    expect(result.stdout).toContain('sel/prod/payments-b');
    expect(result.stdout).not.toContain('sel/prod/search');
    expect(result.stdout).not.toContain('sel/staging/payments');
    expect(result.stdout).not.toContain('payments-x');
    expect(result.stdout).toContain('Dry run: nothing rotated.');
    expect(fixture.local.callsTo('RotateSecret').length).toBe(callsBefore);

    const json = await run([
      'rotate',
      '--all',
      '--filter',
      'tag:team',
      '--filter',
      'name=sel/',
      '--via-service',
      '--dry-run',
      '--output',
      'json',
    ]);
    expect(json.code).toBe(0);
    const listed = json.json<{ dryRun: boolean; selected: Array<{ name: string; arn: string }> }>();
    expect(listed.dryRun).toBe(true);
    expect(listed.selected.map((secret) => secret.name)).toEqual([
      'sel/prod/payments-a',
      'sel/prod/payments-b',
      'sel/prod/payments-x',
      'sel/prod/search',
      'sel/staging/payments',
    ]);
    expect(listed.selected[0]?.arn).toBe(paymentsA);
  });

  it('asks for --yes when there is no terminal to confirm on, and changes nothing', async () => {
    await create('confirm/one');
    const before = fixture.local.callsTo('RotateSecret').length;
    const result = await run(['rotate', '--all', '--filter', 'name=confirm/', '--via-service']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'rotate --all would rotate 1 secret(s) and there is no terminal to confirm on',
    );
    expect(result.stderr).toContain('pass --yes to confirm, or --dry-run to only list them');
    expect(fixture.local.callsTo('RotateSecret').length).toBe(before);
  });

  it('names the flag at fault in every usage error (exit 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['rotate', '--all', 'some/secret', '--via-service'], /takes no secret name \(got "some\/secret"\)/],
      [['rotate', 'some/secret', '--via-service', '--filter', 'name=x'], /--filter go with --all/],
      [
        ['rotate', '--all', '--filter', 'owner=me', '--via-service'],
        /--filter "owner=me" is not name=<prefix>, tag:<key>=<value> or tag:<key>/,
      ],
      [['rotate', '--all', '--filter', 'name=x'], /rotate --all needs --via-service or --handler <name>/],
      [['rotate', '--all', '--via-service', '--concurrency', '0'], /concurrency/],
      [['rotate', '--via-service'], /rotate needs a secret name or ARN, or --all with --filter/],
    ];
    for (const [argv, message] of cases) {
      const result = await run(argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr, argv.join(' ')).toMatch(message);
    }
  });

  it('says nothing matched (exit 1), and that nothing could be reached (exit 3)', async () => {
    const none = await run(['rotate', '--all', '--filter', 'name=no-such-prefix/', '--via-service', '--yes']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no secret matches (name=no-such-prefix/)');
    const unreachable = await cli(
      [
        'rotate',
        '--all',
        '--filter',
        'name=x/',
        '--via-service',
        '--yes',
        '--endpoint-url',
        'http://127.0.0.1:1',
      ],
      { env },
    );
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(
      /listing the secrets to rotate \(ListSecrets\): cannot reach endpoint/,
    );
  });
});

describe('rotate --all: rotating', () => {
  it('rotates every match through the service once, reports one line each and a summary; already-rotating and failed ones are reported with the fix', async () => {
    const good = await Promise.all(
      Array.from({ length: 12 }, (_, i) => create(`many/good-${String(i).padStart(2, '0')}`)),
    );
    const busy = await create('many/busy');
    const busyPending = '11111111-1111-4111-8111-111111111111';
    await fixture.local.registerPendingVersion(busy, busyPending);
    const broken = await create('many/broken', {}, BROKEN_ROTATOR);
    const none = await create('many/no-function', {}, null);

    // Run twice, the second time to resume from the same journal.
    const rotateMany = [
      'rotate',
      '--all',
      '--filter',
      'name=many/',
      '--via-service',
      '--yes',
      '--journal',
      join(stateDir, 'many.jsonl'),
    ];
    const result = await run(rotateMany);
    for (const arn of good) await trackCurrent(fixture.client, arn);
    expect(result.code).toBe(1);
    for (const arn of good) {
      expect(rotationsOf(arn)).toBe(1);
      expect(await versions(arn)).toHaveLength(2);
    }
    expect(result.stdout).toMatch(/\[ ?\d+\/15\] rotated many\/good-00 \(version [0-9a-f]{8}, /);
    expect(result.stdout).toMatch(
      /already rotating many\/busy \(AWSPENDING on version 11111111\): not started/,
    );
    // Never started: the unfinished rotation's labels are untouched and no RotateSecret was sent for it.
    expect(await labels(busy)).toMatchObject({ [busyPending]: ['AWSPENDING'] });
    expect(fixture.local.callsTo('RotateSecret').filter((call) => call.input.SecretId === busy)).toHaveLength(
      0,
    );
    expect(result.stdout).toMatch(
      /many\/broken\s+FAILED\s+[0-9a-f]{8}\s+setSecret\s+.*the target refused the change/,
    );
    expect(result.stdout).toMatch(
      /fix for many\/broken: fix the cause, then run the same command again: it resumes version/,
    );
    expect(result.stdout).toMatch(/fix for many\/no-function: attach one \(deploy\/sam\/attach-secret\.yaml/);
    expect(result.stdout).toMatch(/fix for many\/busy: let the running rotation finish/);
    expect(result.stdout).toMatch(
      /12 rotated, 1 already rotating, 2 failed of 15 in .* secrets\/s\); throttled 0 time\(s\)/,
    );
    expect(result.stdout).toContain(
      `run the same command again to resume (journal ${join(stateDir, 'many.jsonl')})`,
    );
    expect(rotationsOf(broken)).toBe(0);
    // Only its owner can read the journal (names and version ids, never values).
    expect((await stat(join(stateDir, 'many.jsonl'))).mode & 0o777).toBe(0o600);
    expect(rotationsOf(none)).toBe(0);

    // Fix the function and run the same command: the failed rotation is resumed with its version,
    // the rotated ones are not rotated again.
    const failedVersion = Object.entries(await labels(broken)).find(([, stages]) =>
      stages.includes('AWSPENDING'),
    )?.[0];
    fixture.local.attachRotationFunction(broken, GOOD_ROTATOR);
    fixture.local.attachRotationFunction(none, GOOD_ROTATOR);
    const again = await run([...rotateMany, '--output', 'json']);
    await trackCurrent(fixture.client, broken);
    await trackCurrent(fixture.client, none);
    const report = again.json<{
      rotated: Array<{ name: string; versionId: string; earlierRun: boolean; resumed: boolean }>;
      alreadyRotating: Array<{ name: string; pendingVersionId: string }>;
      failed: unknown[];
    }>();
    expect(again.code).toBe(1);
    expect(report.rotated.filter((entry) => entry.earlierRun)).toHaveLength(12);
    const resumed = report.rotated.find((entry) => entry.name === 'many/broken');
    expect(resumed).toMatchObject({ versionId: failedVersion, earlierRun: false });
    expect(report.rotated.find((entry) => entry.name === 'many/no-function')?.earlierRun).toBe(false);
    expect(report.alreadyRotating).toEqual([{ name: 'many/busy', arn: busy, pendingVersionId: busyPending }]);
    expect(report.failed).toEqual([]);
    for (const arn of good) expect(rotationsOf(arn)).toBe(1);
    expect(rotationsOf(broken)).toBe(1);
    expect(again.stderr).toContain('Resuming from the journal');
  });

  it('runs the steps on this machine with --handler, and closes the journal when every secret is rotated', async () => {
    const arns = await Promise.all(Array.from({ length: 8 }, (_, i) => create(`local/${i}`, {}, null)));
    const journal = join(stateDir, 'local.jsonl');
    const result = await run([
      'rotate',
      '--all',
      '--filter',
      'name=local/',
      '--handler',
      'random-secret',
      '--yes',
      '--journal',
      journal,
      '--output',
      'json',
    ]);
    for (const arn of arns) await trackCurrent(fixture.client, arn);
    expect(result.code).toBe(0);
    const report = result.json<{
      rotated: Array<{ arn: string; versionId: string }>;
      journal: string | null;
      secretsPerSecond: number;
    }>();
    expect(report.rotated).toHaveLength(8);
    expect(report.journal).toBeNull();
    expect(report.secretsPerSecond).toBeGreaterThan(0);
    for (const entry of report.rotated) {
      expect((await labels(entry.arn))[entry.versionId]).toEqual(['AWSCURRENT']);
      expect(await versions(entry.arn)).toHaveLength(2);
    }
    await expect(readFile(journal, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('resumes a rotation an interrupted run left mid-way with the same version, and never rotates a finished one again', async () => {
    const finished = await create('resume/finished');
    const midway = await create('resume/midway');
    const unsent = await create('resume/unsent');
    // What a run killed at the wrong moment leaves: one secret done, one with AWSPENDING
    // registered (RotateSecret sent), one whose RotateSecret never left.
    const midwayVersion = '22222222-2222-4222-8222-222222222222';
    const unsentVersion = '33333333-3333-4333-8333-333333333333';
    await fixture.local.registerPendingVersion(midway, midwayVersion);
    const journal = join(stateDir, 'resume.jsonl');
    const at = new Date().toISOString();
    await writeFile(
      journal,
      [
        { kind: 'run', at, command: 'earlier' },
        {
          kind: 'started',
          at,
          arn: finished,
          name: 'resume/finished',
          versionId: '44444444-4444-4444-8444-444444444444',
        },
        { kind: 'rotated', at, arn: finished, versionId: '44444444-4444-4444-8444-444444444444' },
        { kind: 'started', at, arn: midway, name: 'resume/midway', versionId: midwayVersion },
        { kind: 'started', at, arn: unsent, name: 'resume/unsent', versionId: unsentVersion },
      ]
        .map((entry) => JSON.stringify(entry))
        .join('\n')
        // A line cut short by kill -9.
        .concat('\n{"kind":"rotated","arn":"'),
    );
    const result = await run([
      'rotate',
      '--all',
      '--filter',
      'name=resume/',
      '--via-service',
      '--yes',
      '--journal',
      journal,
      '--output',
      'json',
    ]);
    await trackCurrent(fixture.client, midway);
    await trackCurrent(fixture.client, unsent);
    expect(result.code).toBe(0);
    const report = result.json<{
      rotated: Array<{ name: string; versionId: string; earlierRun: boolean; resumed: boolean }>;
    }>();
    expect(report.rotated).toEqual([
      expect.objectContaining({ name: 'resume/finished', earlierRun: true }),
      expect.objectContaining({ name: 'resume/midway', versionId: midwayVersion, resumed: true }),
      expect.objectContaining({ name: 'resume/unsent', versionId: unsentVersion, resumed: false }),
    ]);
    expect(rotationsOf(finished)).toBe(0);
    expect((await labels(midway))[midwayVersion]).toEqual(['AWSCURRENT']);
    expect((await labels(unsent))[unsentVersion]).toEqual(['AWSCURRENT']);
  });
});

describe('rotate --all --handler resuming', () => {
  it('resumes on this machine the version an interrupted --handler run left with AWSPENDING', async () => {
    const arn = await create('hresume/one', {}, null);
    const version = '55555555-5555-4555-8555-555555555555';
    await fixture.local.registerPendingVersion(arn, version);
    const journal = join(stateDir, 'hresume.jsonl');
    const at = new Date().toISOString();
    await writeFile(
      journal,
      `${JSON.stringify({ kind: 'run', at, command: 'earlier' })}\n${JSON.stringify({ kind: 'started', at, arn, name: 'hresume/one', versionId: version })}\n`,
    );
    const result = await run([
      'rotate',
      '--all',
      '--filter',
      'name=hresume/',
      '--handler',
      'random-secret',
      '--yes',
      '--journal',
      journal,
    ]);
    await trackCurrent(fixture.client, arn);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/rotated hresume\/one \(version 55555555, resumed, /);
    expect((await labels(arn))[version]).toEqual(['AWSCURRENT']);
    expect(await versions(arn)).toHaveLength(2);
  });
});

describe('rotate --all against rate limits', () => {
  it('meets ThrottlingException, narrows its window and backs off, and rotates each secret once', async () => {
    const local = await startLocalSecretsManager({ rateLimits: { RotateSecret: 8, DescribeSecret: 60 } });
    try {
      const client = local.client();
      local.registerRotationFunction(GOOD_ROTATOR, quietHandler(local.client()));
      const arns: string[] = [];
      for (let i = 0; i < 40; i++) {
        const answer = await client.send(
          new CreateSecretCommand({ Name: `limited/${i}`, SecretString: secretValue() }),
        );
        local.attachRotationFunction(answer.ARN!, GOOD_ROTATOR);
        arns.push(answer.ARN!);
      }
      const result = await cli(
        [
          'rotate',
          '--all',
          '--filter',
          'name=limited/',
          '--via-service',
          '--yes',
          '--concurrency',
          '20',
          '--journal',
          join(stateDir, 'limited.jsonl'),
          '--output',
          'json',
          '--endpoint-url',
          local.endpoint,
        ],
        { env },
      );
      for (const arn of arns) {
        const current = await local.client().send(new DescribeSecretCommand({ SecretId: arn }));
        expect(Object.keys(current.VersionIdsToStages ?? {})).toHaveLength(2);
      }
      expect(result.code).toBe(0);
      const report = result.json<{ rotated: unknown[]; throttled: number; lowestConcurrency: number }>();
      expect(report.rotated).toHaveLength(40);
      expect(report.throttled).toBeGreaterThan(0);
      expect(report.lowestConcurrency).toBeLessThan(20);
      expect(local.callsTo('RotateSecret').some((call) => call.error === 'ThrottlingException')).toBe(true);
      for (const arn of arns)
        expect(local.rotations.filter((run) => run.secretArn === arn && run.ok)).toHaveLength(1);
    } finally {
      await local.close();
    }
  });
});

describe('rotate --all on a terminal, and interrupted', () => {
  /** A terminal: stdin answers `answer` to the prompt, stderr is a TTY 100 columns wide. */
  function terminal(answer: string) {
    let stdout = '';
    let errors = '';
    // readline writes the prompt to a real stream.
    const stderr = Object.assign(
      new Writable({
        write(chunk: Buffer | string, _encoding, done) {
          errors += chunk.toString();
          done();
        },
      }),
      { isTTY: true, columns: 100 },
    );
    const stdin = Readable.from([`${answer}\n`]) as Readable & { isTTY?: boolean };
    stdin.isTTY = true;
    return {
      io: {
        stdout: {
          write: (chunk: string) => {
            stdout += chunk;
            return true;
          },
        },
        stderr,
        stdin,
        env,
      },
      output: () => ({ stdout, stderr: errors }),
    };
  }

  it('asks on the terminal and draws a progress bar instead of a line per secret', async () => {
    const arns = await Promise.all(Array.from({ length: 6 }, (_, i) => create(`tty/${i}`)));
    const declined = terminal('n');
    const no = await runCli(
      ['rotate', '--all', '--filter', 'name=tty/', '--via-service', '--endpoint-url', fixture.local.endpoint],
      declined.io,
    );
    expect(no, declined.output().stderr).toBe(0);
    expect(declined.output().stderr).toContain('Rotate these 6 secret(s) now? [y/N]');
    expect(declined.output().stdout).toContain('Not confirmed: nothing changed.');
    for (const arn of arns) expect(rotationsOf(arn)).toBe(0);

    const accepted = terminal('y');
    const yes = await runCli(
      [
        'rotate',
        '--all',
        '--filter',
        'name=tty/',
        '--via-service',
        '--journal',
        join(stateDir, 'tty.jsonl'),
        '--endpoint-url',
        fixture.local.endpoint,
      ],
      accepted.io,
    );
    for (const arn of arns) await trackCurrent(fixture.client, arn);
    expect(yes).toBe(0);
    const { stdout, stderr } = accepted.output();
    expect(stderr).toMatch(/rotating \|=+\| 6\/6 · 6 rotated · 0 already rotating · 0 failed/);
    expect(stdout).not.toMatch(/\[\d\/6\] rotated/);
    expect(stdout).toMatch(/6 rotated, 0 already rotating, 0 failed of 6/);
    for (const arn of arns) expect(rotationsOf(arn)).toBe(1);
  });

  it('stops starting rotations when interrupted, keeps the journal (no secret value in it), and the same command finishes the rest', async () => {
    const local = await startLocalSecretsManager({ latencyMs: 20 });
    try {
      local.registerRotationFunction(GOOD_ROTATOR, quietHandler(local.client()));
      const client = local.client();
      const values: string[] = [];
      const arns: string[] = [];
      for (let i = 0; i < 12; i++) {
        const value = secretValue();
        values.push(value);
        const answer = await client.send(new CreateSecretCommand({ Name: `stop/${i}`, SecretString: value }));
        local.attachRotationFunction(answer.ARN!, GOOD_ROTATOR);
        arns.push(answer.ARN!);
      }
      const journal = join(stateDir, 'stop.jsonl');
      const argv = [
        'rotate',
        '--all',
        '--filter',
        'name=stop/',
        '--via-service',
        '--yes',
        '--concurrency',
        '2',
        '--journal',
        journal,
        '--endpoint-url',
        local.endpoint,
      ];
      const stop = new AbortController();
      const first = await cli(argv, {
        env,
        signal: stop.signal,
        onStdout: (chunk) => {
          if (/\] rotated /.test(chunk)) stop.abort();
        },
      });
      expect(first.code).toBe(1);
      expect(first.stdout).toMatch(/\d+ interrupted of 12/);
      expect(first.stdout).toContain(`run the same command again to resume (journal ${journal})`);
      const text = await readFile(journal, 'utf8');
      for (const value of values) expect(text).not.toContain(value);
      await local.idle();

      const second = await cli(argv, { env });
      for (const arn of arns) await trackCurrent(local.client(), arn);
      expect(second.code).toBe(0);
      expect(second.stdout).toMatch(/12 rotated \(\d+ by an earlier run\)/);
      for (const arn of arns)
        expect(local.rotations.filter((run) => run.secretArn === arn && run.ok)).toHaveLength(1);
    } finally {
      await local.close();
    }
  });
});
