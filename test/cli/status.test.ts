import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { callLocalExtension } from '../../src/testing/driver.ts';
import { configureRotation, createSecret, useCliFixture } from './fixtures.ts';
import { cli, HOUR, MINUTE } from './run.ts';

const fixture = useCliFixture();

const status = (name: string, ...extra: string[]) =>
  cli(['status', name, ...fixture.endpointArgs, ...extra], { now: fixture.clock.now });

interface StatusJson {
  verdict: string;
  passes: boolean;
  findings: Array<{ verdict: string; message: string; fix?: string }>;
  versions: Array<{ versionId: string; labels: string[]; createdDate: string }>;
  rotation: { enabled: boolean; lastRotatedDate: string | null; nextRotationDate: string | null };
  pending: { versionId: string; since: string } | null;
  ageDays: number;
}

describe('status', () => {
  it('calls a freshly rotated secret healthy and shows its versions, labels and next rotation', async () => {
    await createSecret(fixture.client, 'status/healthy');
    await configureRotation(fixture, 'status/healthy', { days: 30 });

    const table = await status('status/healthy');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/Verdict\s+HEALTHY/);
    expect(table.stdout).toMatch(/Rotation\s+enabled, every 30 days/);
    expect(table.stdout).toContain('AWSCURRENT');
    expect(table.stdout).toContain('AWSPREVIOUS');

    const json = (await status('status/healthy', '--output', 'json')).json<StatusJson>();
    expect(json.verdict).toBe('healthy');
    expect(json.passes).toBe(true);
    expect(json.versions.flatMap((v) => v.labels).sort()).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
    expect(Date.parse(json.rotation.nextRotationDate!) - Date.parse(json.rotation.lastRotatedDate!)).toBe(
      30 * 24 * HOUR,
    );
  });

  it('calls a secret without rotation "rotation-disabled" and exits 1 with the fix', async () => {
    await createSecret(fixture.client, 'status/plain');
    const result = await status('status/plain');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Verdict\s+ROTATION-DISABLED/);
    expect(result.stdout).toContain('aws secretsmanager rotate-secret --secret-id status/plain');
  });

  it('calls a secret whose rotation was only tested "never-rotated"', async () => {
    await createSecret(fixture.client, 'status/never');
    await configureRotation(fixture, 'status/never', { rotateImmediately: false });
    const json = (await status('status/never', '--output', 'json')).json<StatusJson>();
    expect(json.verdict).toBe('never-rotated');
    expect(json.passes).toBe(false);
    expect(json.rotation.enabled).toBe(true);
  });

  it('calls a secret "overdue" once its rotation window has passed, and "too-old" past --max-age', async () => {
    await createSecret(fixture.client, 'status/overdue');
    await configureRotation(fixture, 'status/overdue', { days: 7 });
    const startedAt = fixture.clock.now();
    fixture.clock.advanceDays(7);
    const onTime = await status('status/overdue', '--output', 'json');
    expect(onTime.json<StatusJson>().verdict).toBe('healthy');

    fixture.clock.advanceDays(2);
    const late = await status('status/overdue', '--output', 'json', '--max-age', '5');
    expect(late.code).toBe(1);
    const json = late.json<StatusJson>();
    expect(json.verdict).toBe('overdue');
    expect(json.findings.map((f) => f.verdict)).toEqual(['overdue', 'too-old']);
    expect(json.ageDays).toBe(9);
    expect(json.findings[1]!.message).toContain('above the limit of 5 days');
    fixture.clock.advance(startedAt.getTime() - fixture.clock.now().getTime());
  });

  it('calls an unfinished rotation "rotating" at first and "stuck" with its start time later', async () => {
    await createSecret(fixture.client, 'status/stuck');
    await configureRotation(fixture, 'status/stuck', { rotateImmediately: false });
    // A rotation whose outcome nobody reports (as on AWS): its age alone makes it stuck.
    await callLocalExtension(fixture.client, 'LocalRegisterPendingVersion', {
      SecretId: 'status/stuck',
      ClientRequestToken: randomUUID(),
    });
    const fresh = (await status('status/stuck', '--output', 'json')).json<StatusJson>();
    expect(fresh.verdict).toBe('rotating');
    expect(fresh.pending).not.toBeNull();
    const pendingSince = fresh.pending!.since;

    fixture.clock.advance(2 * HOUR);
    const later = await status('status/stuck');
    expect(later.code).toBe(1);
    expect(later.stdout).toMatch(/Verdict\s+STUCK/);
    expect(later.stdout).toContain(`AWSPENDING is on version ${fresh.pending!.versionId.slice(0, 8)}`);
    expect(later.stdout).toContain(pendingSince.slice(0, 16).replace('T', ' '));
    expect(later.stdout).toContain('secrets-rotator repair status/stuck');

    const lenient = await status(
      'status/stuck',
      '--output',
      'json',
      '--stuck-after',
      String((3 * HOUR) / MINUTE),
    );
    expect(lenient.json<StatusJson>().verdict).toBe('rotating');
    fixture.clock.advance(-2 * HOUR);
  });

  it('exits 3 with the fix when the secret does not exist', async () => {
    const result = await status('status/missing');
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('reading secret status/missing: not found');
    expect(result.stderr).toContain('fix: check the secret name or ARN');
  });

  it('refuses --output csv and a bad --max-age, naming the flag (exit 2)', async () => {
    const csv = await status('status/plain', '--output', 'csv');
    expect(csv.code).toBe(2);
    expect(csv.stderr).toContain('--output csv is not available for status');
    const age = await status('status/plain', '--max-age', 'ninety');
    expect(age.code).toBe(2);
    expect(age.stderr).toContain("option '--max-age <days>' argument 'ninety' is invalid");
  });
});
