/**
 * `rotate --all` at scale: 1,000 random-secret secrets on the local endpoint with 15 ms of latency
 * per call and Secrets Manager's documented rate limits (RotateSecret 50/s; PutSecretValue and
 * UpdateSecretVersionStage 50/s combined, which caps a fleet at 25 rotations a second). One command
 * rotates them all, each exactly once, meeting ThrottlingException and surviving it; the same
 * command killed with SIGKILL at 40 % and run again finishes the rest, with no secret rotated twice.
 *
 * About 90 s on an idle 2-core machine: the write quota alone makes each run take 40 s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, rotatedExactlyOnce, runCliProcess, startFleet } from '../support/fleet-scenario.ts';

/**
 * The first RotateSecret calls are refused as the service refuses a burst, so that the run meets
 * throttling whatever the machine's speed (a slow machine may never reach the rates by itself).
 */
function throttleFirstRequests(fleet: Fleet, times: number): void {
  fleet.local.inject({
    operation: 'RotateSecret',
    error: { type: 'ThrottlingException', message: 'Rate exceeded' },
    times,
  });
}

import { trackSecrets } from '../support/leak-scan.ts';

const COUNT = 1_000;
let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'rotate-all-scale-'));
});
afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

interface Report {
  selected: number;
  rotated: Array<{ name: string; versionId: string; earlierRun: boolean }>;
  alreadyRotating: unknown[];
  failed: unknown[];
  throttled: number;
  lowestConcurrency: number;
  secretsPerSecond: number;
}

function rotateAll(fleet: Fleet, prefix: string): string[] {
  return [
    'rotate',
    '--all',
    '--filter',
    `name=${prefix}`,
    '--via-service',
    '--yes',
    '--output',
    'json',
    '--endpoint-url',
    fleet.local.endpoint,
  ];
}

describe(`rotate --all over ${COUNT} secrets, 15 ms latency, documented rate limits`, () => {
  it('rotates every secret exactly once in one command, surviving throttling', async () => {
    const fleet = await startFleet({ count: COUNT, prefix: 'once/' });
    trackSecrets(...fleet.initialValues);
    throttleFirstRequests(fleet, 20);
    try {
      const run = await runCliProcess(rotateAll(fleet, 'once/'), { XDG_STATE_HOME: stateDir });
      expect(run.stderr).not.toMatch(/error:/);
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as Report;
      expect(report.selected).toBe(COUNT);
      expect(report.rotated).toHaveLength(COUNT);
      expect(report.failed).toEqual([]);
      // Throttling met and survived: the service said "Rate exceeded" and the run narrowed its window.
      expect(report.throttled).toBeGreaterThanOrEqual(20);
      expect(report.lowestConcurrency).toBeLessThan(25);
      await fleet.local.idle();
      expect(await rotatedExactlyOnce(fleet)).toEqual([]);
    } finally {
      await fleet.close();
    }
  }, 400_000);

  it('finishes the rest after SIGKILL at 40 %, rotating no secret twice', async () => {
    const fleet = await startFleet({ count: COUNT, prefix: 'killed/' });
    trackSecrets(...fleet.initialValues);
    throttleFirstRequests(fleet, 20);
    try {
      let done = 0;
      const killed = await runCliProcess(
        rotateAll(fleet, 'killed/'),
        { XDG_STATE_HOME: stateDir },
        (line) => {
          if (/^\[\s*\d+\/\d+\] rotated /.test(line)) done += 1;
          return done >= COUNT * 0.4;
        },
      );
      expect(killed.signal).toBe('SIGKILL');
      expect(done).toBeGreaterThanOrEqual(COUNT * 0.4);
      expect(done).toBeLessThan(COUNT);
      // The rotations the killed run had started go on in the service, as on AWS.
      await fleet.local.idle();

      const again = await runCliProcess(rotateAll(fleet, 'killed/'), { XDG_STATE_HOME: stateDir });
      expect(again.code).toBe(0);
      expect(again.stderr).toContain('Resuming from the journal');
      const report = JSON.parse(again.stdout) as Report;
      expect(report.rotated).toHaveLength(COUNT);
      expect(report.failed).toEqual([]);
      expect(report.alreadyRotating).toEqual([]);
      const earlier = report.rotated.filter((entry) => entry.earlierRun).length;
      expect(earlier).toBeGreaterThanOrEqual(done);
      expect(earlier).toBeLessThan(COUNT);
      expect(await rotatedExactlyOnce(fleet)).toEqual([]);
    } finally {
      await fleet.close();
    }
  }, 400_000);
});
