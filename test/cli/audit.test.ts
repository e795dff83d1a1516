import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limiter } from '../../src/cli/concurrency.ts';
import { runCli } from '../../src/cli/main.ts';
import {
  BROKEN_ROTATOR,
  type CliFixture,
  configureRotation,
  createSecret,
  startCliFixture,
} from './fixtures.ts';
import { cli, HOUR } from './run.ts';

let fixture: CliFixture;
let endpoint: string[];
const PLAIN = 230;

interface AuditJson {
  summary: { total: number; passing: number; failing: number; byVerdict: Record<string, number> };
  secrets: Array<{ name: string; verdict: string; passes: boolean; pendingSince: string | null }>;
}

beforeAll(async () => {
  fixture = await startCliFixture();
  endpoint = ['--endpoint-url', fixture.local.endpoint];
  // 230 secrets without rotation (three pages of ListSecrets), 2 healthy, 1 stuck, 1 never rotated.
  for (let i = 0; i < PLAIN; i++) {
    await fixture.client.send(
      new CreateSecretCommand({ Name: `plain/${String(i).padStart(3, '0')}`, SecretString: `value-${i}` }),
    );
  }
  for (const name of ['team/a', 'team/b']) {
    await createSecret(fixture.client, name);
    await configureRotation(fixture, name, { days: 30 });
  }
  await createSecret(fixture.client, 'team/stuck');
  await configureRotation(fixture, 'team/stuck', { lambda: BROKEN_ROTATOR });
  await createSecret(fixture.client, 'team/tested-only');
  await configureRotation(fixture, 'team/tested-only', { rotateImmediately: false });
  fixture.clock.advance(2 * HOUR);
});
afterAll(async () => {
  await fixture.close();
});

const audit = (...extra: string[]) => cli(['audit', ...endpoint, ...extra], { now: fixture.clock.now });

describe('audit', () => {
  it('assesses every secret across pages and exits 1 when any fails the policy', async () => {
    const before = fixture.local.callsTo('ListSecrets').length;
    const result = await audit('--output', 'json');
    expect(result.code).toBe(1);
    const json = result.json<AuditJson>();
    expect(json.summary.total).toBe(PLAIN + 4);
    expect(json.secrets).toHaveLength(PLAIN + 4);
    expect(new Set(json.secrets.map((s) => s.name)).size).toBe(PLAIN + 4);
    expect(json.summary.byVerdict).toMatchObject({
      'rotation-disabled': PLAIN,
      healthy: 2,
      stuck: 1,
      'never-rotated': 1,
    });
    expect(json.summary.failing).toBe(PLAIN + 2);
    // 234 secrets at 100 per page: three ListSecrets calls, and ListSecretVersionIds for the stuck one only.
    expect(fixture.local.callsTo('ListSecrets').length - before).toBe(3);
    const stuck = json.secrets.find((s) => s.name === 'team/stuck')!;
    expect(stuck.verdict).toBe('stuck');
    expect(stuck.pendingSince).toBe('2030-01-01T00:00:00.000Z');
  });

  it('passes when the failing verdicts are allowed, and narrows the audit with --filter', async () => {
    const filtered = await audit(
      '--filter',
      'name=team/',
      '--allow',
      'stuck',
      '--allow',
      'never-rotated',
      '--output',
      'json',
    );
    expect(filtered.code).toBe(0);
    const json = filtered.json<AuditJson>();
    expect(json.summary.total).toBe(4);
    expect(json.summary.failing).toBe(0);

    const healthyOnly = await audit('--filter', 'name=team/a', '--filter', 'name=team/b');
    expect(healthyOnly.code).toBe(0);
    expect(healthyOnly.stdout).toContain('2 secrets: 2 healthy — 0 fail the policy');
  });

  it('writes CSV with a header and one row per secret, quoting where needed', async () => {
    const result = await audit('--output', 'csv', '--filter', 'name=team/');
    expect(result.code).toBe(1);
    const lines = result.stdout.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'name,arn,verdict,passes,rotation_enabled,last_rotated,next_rotation,age_days,pending_version,pending_since,findings',
    );
    expect(lines).toHaveLength(5);
    const stuck = lines.find((line) => line.startsWith('team/stuck,'))!;
    expect(stuck).toContain(',stuck,false,true,');
    expect(stuck).toMatch(/"stuck: AWSPENDING is on version [0-9a-f]{8}, which is not AWSCURRENT, since/);
    expect(result.stderr).toContain('4 secrets: 1 stuck, 1 never-rotated, 2 healthy — 2 fail the policy');
  });

  it('shows a table with --failing-only and fails secrets older than --max-age', async () => {
    fixture.clock.advance(24 * 10 * HOUR);
    const result = await audit('--filter', 'name=team/', '--max-age', '5', '--failing-only');
    fixture.clock.advance(-24 * 10 * HOUR);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^NAME\s+VERDICT\s+POLICY/);
    expect(result.stdout).toMatch(/team\/a\s+too-old\s+FAIL/);
    expect(result.stdout).toContain('4 secrets: 1 stuck, 1 never-rotated, 2 too-old — 4 fail the policy');
  });

  it('draws a progress bar on a terminal, on stderr only, and none with --no-progress', async () => {
    const run = async (...extra: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await runCli(['audit', ...endpoint, '--output', 'json', ...extra], {
        stdout: { write: (chunk: string) => (stdout += chunk) },
        stderr: { isTTY: true, columns: 100, write: (chunk: string) => (stderr += chunk) },
        env: {},
        now: fixture.clock.now,
      });
      return { code, stdout, stderr };
    };
    const withBar = await run();
    expect(withBar.code).toBe(1);
    expect(withBar.stderr).toMatch(/audit \|.*\| \d+\/\d+ secrets/);
    expect(JSON.parse(withBar.stdout).summary.total).toBe(PLAIN + 4);
    const without = await run('--no-progress');
    expect(without.stderr).toBe('');
  });

  it('refuses unknown --allow and --filter values, naming the flag', async () => {
    const allow = await audit('--allow', 'healthy');
    expect(allow.code).toBe(2);
    expect(allow.stderr).toContain("option '--allow <verdict>' argument 'healthy' is invalid");
    const filter = await audit('--filter', 'colour=blue');
    expect(filter.code).toBe(2);
    expect(filter.stderr).toContain("option '--filter <key=value>' argument 'colour=blue' is invalid");
  });
});

describe('limiter', () => {
  it('never runs more tasks at once than its limit, and runs them all', async () => {
    const run = limiter(3);
    let active = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        run(async () => {
          active += 1;
          peak = Math.max(peak, active);
          await new Promise((resolve) => setTimeout(resolve, i % 3));
          active -= 1;
          return i;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});
