// `secrets-rotator rotate --all` over 1,000 random-secret secrets on the local endpoint, 15 ms of
// latency per call, one shared rotation function: secrets rotated per second, with Secrets
// Manager's documented rate limits and without any. The CLI runs as its own process, as an
// operator runs it. Figures only: they describe this machine and the local endpoint, not AWS.
//
// `npm run bench -- fleet` runs this file alone; `--fleet-secrets=N` changes the count.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCUMENTED_RATE_LIMITS, runCliProcess, startFleet } from '../test/support/fleet-scenario.ts';

const countArg = process.argv.find((arg) => arg.startsWith('--fleet-secrets='));
const COUNT = countArg ? Number(countArg.split('=')[1]) : 1_000;

async function measure(label, rateLimits, stateDir) {
  const fleet = await startFleet({ count: COUNT, prefix: 'bench/', latencyMs: 15, rateLimits });
  try {
    const started = performance.now();
    const run = await runCliProcess(
      [
        'rotate',
        '--all',
        '--filter',
        'name=bench/',
        '--via-service',
        '--yes',
        '--output',
        'json',
        '--endpoint-url',
        fleet.local.endpoint,
      ],
      { XDG_STATE_HOME: stateDir },
    );
    const wallMs = performance.now() - started;
    if (run.code !== 0)
      throw new Error(`rotate --all exited ${run.code}: ${run.stderr.split('\n').slice(-5).join(' | ')}`);
    const report = JSON.parse(run.stdout);
    const throttledByEndpoint = fleet.local.calls.filter(
      (call) => call.error === 'ThrottlingException',
    ).length;
    return {
      limits: label,
      secrets: report.rotated.length,
      'rotated/s': report.secretsPerSecond.toFixed(1),
      'rotation run (s)': (report.totalMs / 1000).toFixed(1),
      'command incl. listing (s)': (wallMs / 1000).toFixed(1),
      'throttled (CLI)': report.throttled,
      'throttled (all callers)': throttledByEndpoint,
      'lowest window': report.lowestConcurrency,
    };
  } finally {
    await fleet.close();
  }
}

export default async function bench() {
  const stateDir = await mkdtemp(join(tmpdir(), 'fleet-bench-'));
  try {
    const rows = [];
    rows.push(await measure('documented quotas', DOCUMENTED_RATE_LIMITS, stateDir));
    rows.push(await measure('none', {}, stateDir));
    return {
      title: `rotate --all: ${COUNT} secrets, 15 ms latency per call, default concurrency`,
      rows,
      notes: [
        '',
        'documented quotas: RotateSecret 50/s; PutSecretValue + UpdateSecretVersionStage + UpdateSecret 50/s combined;',
        'GetSecretValue + DescribeSecret 10,000/s; ListSecrets 100/s. A rotation writes twice, so 25 rotations/s is the ceiling.',
        '"throttled (all callers)" counts the rotation function’s refused calls too; it retries them itself.',
      ],
    };
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}
