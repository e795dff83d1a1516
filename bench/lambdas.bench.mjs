// Per handler, as deployed: zip size, cold start (fresh Node process until `handler` is ready),
// full-rotation time (median over N rotations against the local endpoint and the real database or
// test API), Secrets Manager calls and database logins per rotation, peak RSS of the function's
// process. Uses the same build, harness and fixtures as test/packaging/as-deployed.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLambdas } from '../scripts/build-lambdas.ts';
import { rotateSecret, startLocalSecretsManager } from '../src/testing/index.ts';
import { samDefaultSettings } from '../test/packaging/support/code-facts.ts';
import {
  lambdaEnvironment,
  startDeployedLambda,
  unpackLambda,
} from '../test/packaging/support/deployed-lambda.ts';
import { DEPLOYED_FIXTURES } from '../test/packaging/support/fixtures.ts';

const COLD_STARTS = 5;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const round = (value, digits = 0) => value.toFixed(digits);

/** PostgreSQL writes its log through a pipe: give the last lines a moment to land before counting. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

async function benchHandler(lambda, sm, workDir, rotations) {
  const name = lambda.name;
  const fixture = DEPLOYED_FIXTURES[name];
  const row = { handler: name, 'zip KB': round(lambda.zipBytes / 1024, 1) };
  if (!fixture) return { ...row, note: 'no fixture in test/packaging/support/fixtures.ts: not measured' };

  const dir = await unpackLambda(lambda.zipPath, join(workDir, name));
  const target = await fixture.start();
  const client = sm.client();
  try {
    const { secretId } = await target.createSecret(client, `bench/${name}`);
    const env = lambdaEnvironment({
      endpoint: sm.endpoint,
      functionName: `${name}-bench`,
      taskRoot: dir,
      settings: { ...(await samDefaultSettings(name)), ...target.settings, ALLOWED_SECRET_IDS: secretId },
    });

    const coldStarts = [];
    for (let i = 0; i < COLD_STARTS; i++) {
      const deployed = await startDeployedLambda({ dir, env });
      coldStarts.push(deployed.coldStartMs);
      await deployed.close();
    }

    const deployed = await startDeployedLambda({ dir, env });
    try {
      // Count only the function's own Secrets Manager calls: those made while a step runs.
      let functionCalls = 0;
      const counted = async (event, context) => {
        const before = sm.calls.length;
        try {
          await deployed.handler(event, context);
        } finally {
          functionCalls += sm.calls.length - before;
        }
      };
      const times = [];
      const loginsBefore = target.logins ? await target.logins() : undefined;
      for (let i = 0; i < rotations; i++) {
        const result = await rotateSecret({ client, secretId, handler: counted });
        if (!result.ok)
          throw new Error(`${name}: rotation ${i + 1} failed at ${result.failedStep}: ${result.error}`);
        times.push(result.totalMs);
      }
      await settle();
      const loginsAfter = target.logins ? await target.logins() : undefined;
      const logins = loginsBefore
        ? `${round((loginsAfter.ok - loginsBefore.ok) / rotations, 1)} ok + ${round((loginsAfter.failed - loginsBefore.failed) / rotations, 1)} refused`
        : undefined;
      return {
        ...row,
        target: fixture.target,
        'cold start ms': round(median(coldStarts)),
        'rotation ms': round(median(times), 1),
        'SM calls/rotation': round(functionCalls / rotations, 1),
        'DB logins/rotation': logins,
        'peak RSS MB': round((await deployed.maxRssKb()) / 1024, 1),
      };
    } finally {
      await deployed.close();
    }
  } finally {
    await target.stop();
  }
}

export default async function bench({ rotations }) {
  const workDir = await mkdtemp(join(tmpdir(), 'bench-lambdas-'));
  const sm = await startLocalSecretsManager();
  try {
    const build = await buildLambdas({ outDir: join(workDir, 'dist'), enforceBudgets: false });
    const rows = [];
    for (const lambda of build.lambdas) rows.push(await benchHandler(lambda, sm, workDir, rotations));
    return {
      title: `Lambda handlers as deployed (rotation: median of ${rotations}; cold start: median of ${COLD_STARTS})`,
      rows,
      notes: [
        '',
        `Node ${process.version} on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}; Secrets Manager endpoint and databases on loopback.`,
        'cold start: spawning a fresh Node process until index.mjs is imported and the handler created.',
        'rotation: the four steps through IPC to a warm function process, plus the driver playing the service.',
        "SM calls: the function's own requests (PASSWORD_GENERATOR=service, so createSecret includes GetRandomPassword).",
        "DB logins: counted by the server (PostgreSQL log_connections; MariaDB Connections/Aborted_connects); 'refused' are",
        '  expected first tries with credentials not yet valid (e.g. setSecret trying the pending password first).',
        'peak RSS: maxRSS of the function process after all rotations.',
      ],
    };
  } finally {
    await sm.close();
    await rm(workDir, { recursive: true, force: true });
  }
}
