import { randomUUID } from 'node:crypto';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { randomSecret } from '../../src/adapters/random-secret/index.ts';
import type { HandlerEntry } from '../../src/cli/handlers.ts';
import type { RotationTarget } from '../../src/core/target.ts';
import { callLocalExtension } from '../../src/testing/driver.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import {
  BROKEN_ROTATOR,
  configureRotation,
  createSecret,
  GOOD_ROTATOR,
  SLOW_ROTATOR,
  trackCurrent,
  useCliFixture,
} from './fixtures.ts';
import { cli, HOUR } from './run.ts';

const fixture = useCliFixture();
const env = { PASSWORD_GENERATOR: 'local' };

const run = (argv: string[], handlers?: Record<string, HandlerEntry>) =>
  cli([...argv, ...fixture.endpointArgs], { now: fixture.clock.now, env, ...(handlers ? { handlers } : {}) });

async function labels(name: string) {
  const { stdout } = await run(['status', name, '--output', 'json']);
  return JSON.parse(stdout) as { verdict: string; versions: Array<{ versionId: string; labels: string[] }> };
}

describe('rotate --handler (the four steps on this machine)', () => {
  it('rotates through the driver, tracing each step and the labels it moved', async () => {
    await createSecret(fixture.client, 'rotate/local');
    const before = await trackCurrent(fixture.client, 'rotate/local');
    const result = await run(['rotate', 'rotate/local', '--handler', 'random-secret']);
    expect(result.code).toBe(0);
    const after = await trackCurrent(fixture.client, 'rotate/local');
    expect(after).not.toBe(before);
    const out = result.stdout;
    expect(out).toMatch(/createSecret\s+ok\s+.*AWSPENDING added on [0-9a-f]{8}/);
    expect(out).toMatch(/setSecret\s+ok/);
    expect(out).toMatch(/testSecret\s+ok/);
    expect(out).toMatch(
      /finishSecret\s+ok\s+.*AWSCURRENT moved [0-9a-f]{8} → [0-9a-f]{8}, AWSPREVIOUS added on/,
    );
    expect(out).toMatch(/completed\s+AWSPENDING removed from/);
    expect(out).toMatch(/Rotated rotate\/local: AWSCURRENT is version [0-9a-f]{8}/);
  });

  it('answers JSON with every step and the final labels', async () => {
    await createSecret(fixture.client, 'rotate/json');
    const result = await run(['rotate', 'rotate/json', '--handler', 'random-secret', '--output', 'json']);
    await trackCurrent(fixture.client, 'rotate/json');
    expect(result.code).toBe(0);
    const json = result.json<{
      ok: boolean;
      versionId: string;
      steps: Array<{ step: string; ok: boolean }>;
      labels: Record<string, string[]>;
    }>();
    expect(json.ok).toBe(true);
    expect(json.steps.map((s) => `${s.step}:${s.ok}`)).toEqual([
      'createSecret:true',
      'setSecret:true',
      'testSecret:true',
      'finishSecret:true',
    ]);
    expect(json.labels[json.versionId]).toEqual(['AWSCURRENT']);
  });

  it('refuses an unfinished rotation, then resumes it with --resume', async () => {
    await createSecret(fixture.client, 'rotate/resume');
    await configureRotation(fixture, 'rotate/resume', { lambda: BROKEN_ROTATOR });
    const pendingId = (await labels('rotate/resume')).versions.find((v) =>
      v.labels.includes('AWSPENDING'),
    )!.versionId;

    const refused = await run(['rotate', 'rotate/resume', '--handler', 'random-secret']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`version ${pendingId} still holds AWSPENDING`);
    expect(refused.stderr).toContain('--resume');

    const resumed = await run(['rotate', 'rotate/resume', '--handler', 'random-secret', '--resume']);
    await trackCurrent(fixture.client, 'rotate/resume');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`version ${pendingId} (resumed)`);
    const after = await labels('rotate/resume');
    expect(after.versions.find((v) => v.versionId === pendingId)!.labels).toEqual(['AWSCURRENT']);
  });

  it('reports a failed step with the reason and the fix, and exits 1', async () => {
    await createSecret(fixture.client, 'rotate/fails');
    const failing: HandlerEntry = {
      description: 'fails at testSecret',
      load: async () => {
        const base = randomSecret() as RotationTarget<unknown>;
        return {
          ...base,
          verify: async () => {
            const { TargetRefusedError } = await import('../../src/core/errors.ts');
            throw new TargetRefusedError('permission', 'user "app" may not read table orders');
          },
        };
      },
    };
    const result = await run(['rotate', 'rotate/fails', '--handler', 'failing'], { failing });
    await trackCurrent(fixture.client, 'rotate/fails');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/testSecret\s+FAILED/);
    expect(result.stderr).toContain('rotation of rotate/fails failed at testSecret');
    expect(result.stderr).toContain('permission failure: user "app" may not read table orders');
    expect(result.stderr).toContain('fix: the user lacks a privilege the rotation needs');
    expect(result.stderr).toContain('--resume');
  });

  it('refuses to run without a local endpoint, pointing to --via-service (exit 2)', async () => {
    const result = await cli(
      ['rotate', 'rotate/local', '--handler', 'random-secret', '--region', 'eu-west-1'],
      { env },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('only the local endpoint allows');
    expect(result.stderr).toContain('against AWS use --via-service');
  });

  it('refuses unknown handlers and impossible flag combinations, naming the flags (exit 2)', async () => {
    const unknown = await run(['rotate', 'x', '--handler', 'oracle']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--handler "oracle" is not a known handler');
    expect(unknown.stderr).toContain('postgres-single-user');
    const neither = await run(['rotate', 'x']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('rotate needs --via-service or --handler <name>');
    const emergency = await run(['rotate', 'x', '--via-service', '--emergency']);
    expect(emergency.code).toBe(2);
    expect(emergency.stderr).toContain('--emergency needs --handler <name>');
    const cannotRevoke = await run(['rotate', 'x', '--handler', 'random-secret', '--emergency']);
    expect(cannotRevoke.code).toBe(2);
    expect(cannotRevoke.stderr).toContain('handler random-secret cannot revoke the previous credential');
    const badId = await run(['rotate', 'x', '--handler', 'random-secret', '--version-id', 'v2']);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('--version-id must be a UUID');
  });

  it('--emergency revokes the previous credential after promotion, and only then', async () => {
    await createSecret(fixture.client, 'rotate/emergency');
    const revoked: string[] = [];
    const revoking: HandlerEntry = {
      description: 'random secret with a revoke hook',
      load: async () => ({
        ...(randomSecret() as RotationTarget<unknown>),
        revoke: async (value: unknown) => {
          revoked.push((value as { value: string }).value);
        },
      }),
    };
    const initial = await trackCurrent(fixture.client, 'rotate/emergency');
    const result = await run(['rotate', 'rotate/emergency', '--handler', 'revoking', '--emergency'], {
      revoking,
    });
    await trackCurrent(fixture.client, 'rotate/emergency');
    expect(result.code).toBe(0);
    expect(revoked).toEqual([initial]);
    expect(result.stdout).toContain('Emergency: revoked the previous credential');
    const previous = await fixture.client.send(
      new GetSecretValueCommand({ SecretId: 'rotate/emergency', VersionStage: 'AWSPREVIOUS' }),
    );
    expect(previous.SecretString).toBe(initial);
  });
});

/** rotate --via-service of a secret whose rotation function does not finish; exits 1, leaves AWSPENDING. */
async function rotateStalled(name: string, lambda: string, flags: { timeout: string; pollInterval: string }) {
  await createSecret(fixture.client, name);
  await configureRotation(fixture, name, { lambda, rotateImmediately: false });
  fixture.clock.advance(HOUR);
  const args = ['--timeout', flags.timeout, '--poll-interval', flags.pollInterval, '--output', 'json'];
  const result = await run(['rotate', name, '--via-service', ...args]);
  fixture.clock.advance(-HOUR);
  await fixture.local.idle();
  await trackPending(name);
  expect(result.code).toBe(1);
  return result.json<{ ok: boolean; outcome: string; error: string; fix: string }>();
}

describe('rotate --via-service and repair', () => {
  it('follows RotateSecret label by label until AWSCURRENT moved', async () => {
    await createSecret(fixture.client, 'service/ok');
    await configureRotation(fixture, 'service/ok');
    const result = await run(['rotate', 'service/ok', '--via-service', '--poll-interval', '20']);
    await trackCurrent(fixture.client, 'service/ok');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`function ${GOOD_ROTATOR}`);
    expect(result.stdout).toMatch(/RotateSecret accepted: version [0-9a-f-]{36}/);
    expect(result.stdout).toMatch(/AWSCURRENT moved [0-9a-f]{8} → [0-9a-f]{8}/);
    expect(result.stdout).toMatch(/Rotated service\/ok: AWSCURRENT is version/);
  });

  it('reports a failed rotation at once, with its step and reason, on the local endpoint (exit 1)', async () => {
    const json = await rotateStalled('service/failing', BROKEN_ROTATOR, {
      timeout: '60',
      pollInterval: '20',
    });
    expect(json).toMatchObject({ ok: false, outcome: 'failed' });
    expect(json.error).toMatch(
      /failed at setSecret: .*setSecret failed: the target refused the change \(simulated\)/,
    );
    expect(json.fix).toContain('secrets-rotator repair service/failing');
  });

  it('gives up after --timeout with where the rotation stands and where to look (exit 1)', async () => {
    const json = await rotateStalled('service/broken', SLOW_ROTATOR, { timeout: '1', pollInterval: '50' });
    expect(json.ok).toBe(false);
    expect(json.outcome).toBe('timeout');
    expect(json.error).toContain(
      'createSecret stored the new value, but setSecret, testSecret or finishSecret has not completed',
    );
    expect(json.fix).toContain('aws logs tail /aws/lambda/slow-rotator');
    expect(json.fix).toContain('secrets-rotator repair service/broken');
  });

  it('repair clears a stuck rotation that rotate --via-service then completes', async () => {
    await createSecret(fixture.client, 'service/stuck');
    fixture.goodRotatorBroken = true;
    await configureRotation(fixture, 'service/stuck');
    await trackPending('service/stuck');
    fixture.clock.advance(2 * HOUR);
    try {
      expect((await labels('service/stuck')).verdict).toBe('stuck');
      const stuckId = (await labels('service/stuck')).versions.find((v) =>
        v.labels.includes('AWSPENDING'),
      )!.versionId;

      // The endpoint, as the service may, refuses a new rotation while the earlier one is unfinished.
      const refused = await run(['rotate', 'service/stuck', '--via-service', '--poll-interval', '20']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("A previous rotation isn't complete");
      expect(refused.stderr).toContain('secrets-rotator repair service/stuck');

      const dryRun = await run(['repair', 'service/stuck', '--dry-run']);
      expect(dryRun.code).toBe(0);
      expect(dryRun.stdout).toContain(`--version-stage AWSPENDING --remove-from-version-id ${stuckId}`);
      expect(dryRun.stdout).toContain('Dry run: nothing changed.');
      expect((await labels('service/stuck')).verdict).toBe('stuck');

      const unconfirmed = await run(['repair', 'service/stuck']);
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.stderr).toContain('pass --yes to confirm');
      expect((await labels('service/stuck')).verdict).toBe('stuck');

      const repaired = await run(['repair', 'service/stuck', '--yes']);
      expect(repaired.code).toBe(0);
      expect(repaired.stdout).toContain(`Repaired: AWSPENDING removed from ${stuckId.slice(0, 8)}`);

      fixture.goodRotatorBroken = false;
      const rotated = await run(['rotate', 'service/stuck', '--via-service', '--poll-interval', '20']);
      await trackCurrent(fixture.client, 'service/stuck');
      expect(rotated.code).toBe(0);
      expect(rotated.stdout).toMatch(/Rotated service\/stuck/);
      const after = await labels('service/stuck');
      expect(after.verdict).toBe('healthy');
      expect(after.versions.find((v) => v.versionId === stuckId)).toBeUndefined();
    } finally {
      fixture.goodRotatorBroken = false;
      fixture.clock.advance(-2 * HOUR);
    }
  });

  it('repair does nothing to a secret without an unfinished rotation, and refuses a young one without --force', async () => {
    await createSecret(fixture.client, 'service/clean');
    const clean = await run(['repair', 'service/clean', '--yes']);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('Nothing to repair');

    await createSecret(fixture.client, 'service/young');
    await configureRotation(fixture, 'service/young', { rotateImmediately: false });
    // A rotation that just started and whose outcome nobody reported yet (as on AWS while it runs).
    await callLocalExtension(fixture.client, 'LocalRegisterPendingVersion', {
      SecretId: 'service/young',
      ClientRequestToken: randomUUID(),
    });
    const young = await run(['repair', 'service/young', '--yes']);
    expect(young.code).toBe(2);
    expect(young.stderr).toContain('may still be running');
    expect(young.stderr).toContain('--force');
    const forced = await run(['repair', 'service/young', '--yes', '--force', '--output', 'json']);
    expect(forced.code).toBe(0);
    expect(forced.json<{ changed: boolean }>().changed).toBe(true);
  });
});

async function trackPending(name: string): Promise<void> {
  try {
    const pending = await fixture.client.send(
      new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' }),
    );
    trackSecrets(pending.SecretString);
  } catch {
    // No pending value stored.
  }
}
