// `secrets-rotator audit` over 10,000 secrets in the local Secrets Manager endpoint: how long the
// whole account takes (all pages of ListSecrets, the verdicts, the detail calls for unfinished
// rotations, and rendering), per output format. Figures only: the local endpoint answers in
// microseconds, so against AWS the time is dominated by ListSecrets round trips (100 secrets each).
import { CreateSecretCommand, RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { randomSecret } from '../src/adapters/random-secret/index.ts';
import { runCli } from '../src/cli/main.ts';
import { cliLogger, cliMetrics } from '../src/cli/runtime.ts';
import { createRotationHandler } from '../src/core/engine.ts';
import { startLocalSecretsManager } from '../src/testing/index.ts';

const TOTAL = 10_000;
const ROTATED = 400;
const STUCK = 100;
const ROTATOR = 'arn:aws:lambda:us-east-1:123456789012:function:bench-rotator';
const BROKEN = 'arn:aws:lambda:us-east-1:123456789012:function:bench-broken';

/** Runs `work` over `items` with at most `limit` in flight. */
async function eachLimited(items, limit, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

export default async function bench() {
  const local = await startLocalSecretsManager({ rotation: 'inline' });
  try {
    const client = local.client();
    const quiet = { logger: cliLogger(() => {}, false), metrics: cliMetrics() };
    const works = createRotationHandler(randomSecret(), {
      client: local.client(),
      env: { PASSWORD_GENERATOR: 'local' },
      ...quiet,
    });
    local.registerRotationFunction(ROTATOR, works);
    local.registerRotationFunction(BROKEN, async (event, context) => {
      if (event.Step === 'setSecret') throw new Error('simulated failure');
      return works(event, context);
    });

    const setupStarted = performance.now();
    const names = Array.from({ length: TOTAL }, (_, i) => `bench/${String(i).padStart(5, '0')}`);
    await eachLimited(names, 16, (name) =>
      client.send(new CreateSecretCommand({ Name: name, SecretString: `initial-${name}` })),
    );
    const rotating = names.slice(0, ROTATED + STUCK).map((name, i) => ({ name, i }));
    await eachLimited(rotating, 8, ({ name, i }) =>
      client.send(
        new RotateSecretCommand({
          SecretId: name,
          RotationLambdaARN: i < ROTATED ? ROTATOR : BROKEN,
          RotationRules: { AutomaticallyAfterDays: 30 },
        }),
      ),
    );
    const setupMs = performance.now() - setupStarted;

    const rows = [];
    for (const output of ['table', 'json', 'csv']) {
      const listBefore = local.callsTo('ListSecrets').length;
      const detailBefore = local.callsTo('ListSecretVersionIds').length;
      let bytes = 0;
      const sink = {
        write: (chunk) => {
          bytes += chunk.length;
          return true;
        },
      };
      const started = performance.now();
      const code = await runCli(
        ['audit', '--endpoint-url', local.endpoint, '--output', output, '--stuck-after', '0'],
        { stdout: sink, stderr: sink, env: {} },
      );
      const ms = performance.now() - started;
      rows.push({
        output,
        secrets: TOTAL,
        'ListSecrets calls': local.callsTo('ListSecrets').length - listBefore,
        'detail calls': local.callsTo('ListSecretVersionIds').length - detailBefore,
        'output KB': Math.round(bytes / 1024),
        'exit code': code,
        seconds: (ms / 1000).toFixed(2),
        'secrets/s': Math.round(TOTAL / (ms / 1000)),
      });
    }
    return {
      title: `audit over ${TOTAL.toLocaleString('en')} secrets (local endpoint)`,
      rows,
      notes: [
        `${TOTAL - ROTATED - STUCK} secrets without rotation, ${ROTATED} rotated, ${STUCK} stuck; exit code 1 because some fail the policy.`,
        'detail calls: one ListSecretVersionIds per unfinished rotation (at most 8 in flight), to date it; every other verdict comes from ListSecrets alone.',
        `set-up (not timed above): ${(setupMs / 1000).toFixed(1)} s to create ${TOTAL} secrets and run ${ROTATED + STUCK} rotations.`,
      ],
    };
  } finally {
    await local.close();
  }
}
