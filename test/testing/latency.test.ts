/**
 * The endpoint's injected per-call latency (`latencyMs`, `--latency-ms`): every operation waits that
 * long before it runs, and calls in flight together wait together, as they would on a network.
 */
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { startLocalSecretsManager } from '../../src/testing/index.ts';
import { sequentialRounds } from '../../src/testing/rounds.ts';
import { cli, startCliEndpoint } from '../cli/run.ts';

const LATENCY_MS = 400;

describe('latencyMs', () => {
  it('delays every call by the latency, and parallel calls overlap instead of queueing', async () => {
    const local = await startLocalSecretsManager({ latencyMs: LATENCY_MS });
    try {
      const client = local.client({ maxAttempts: 1 });
      let started = performance.now();
      await client.send(new CreateSecretCommand({ Name: 'latency/one', SecretString: 'latency-v1' }));
      // Timers may fire up to a millisecond early; the lower bound is what proves the delay.
      expect(performance.now() - started).toBeGreaterThanOrEqual(LATENCY_MS - 2);

      started = performance.now();
      await Promise.all(
        [1, 2, 3].map(() => client.send(new GetSecretValueCommand({ SecretId: 'latency/one' }))),
      );
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(LATENCY_MS - 2);
      // Queued one after another, three calls could not finish before three latencies.
      expect(elapsed).toBeLessThan(3 * LATENCY_MS);
      expect(local.callsTo('GetSecretValue').map((call) => call.status)).toEqual([200, 200, 200]);
    } finally {
      await local.close();
    }
  });

  it('sequentialRounds counts calls in flight together once and calls one after another each', async () => {
    const local = await startLocalSecretsManager({ latencyMs: 30 });
    try {
      const client = local.client({ maxAttempts: 1 });
      await client.send(new CreateSecretCommand({ Name: 'rounds/one', SecretString: 'rounds-v1' }));
      const read = () => client.send(new GetSecretValueCommand({ SecretId: 'rounds/one' }));
      await Promise.all([read(), read(), read()]);
      await read();
      await Promise.all([read(), read()]);
      expect(local.calls).toHaveLength(7);
      expect(local.calls.every((call) => call.answeredAt! >= call.receivedAt + 30 - 2)).toBe(true);
      expect(sequentialRounds(local.calls)).toBe(4);
      expect(sequentialRounds(local.calls.slice(1, 4))).toBe(1);
      expect(sequentialRounds([])).toBe(0);
    } finally {
      await local.close();
    }
  });

  it('refuses a latency that is not a whole number of milliseconds, naming the option', async () => {
    for (const latencyMs of [-1, 1.5, Number.NaN, 60_001]) {
      await expect(startLocalSecretsManager({ latencyMs })).rejects.toThrow(
        /latencyMs must be a whole number of milliseconds from 0 to 60000/,
      );
    }
  });

  it('is set by --latency-ms of secrets-rotator local-endpoint, and a bad value names the flag', async () => {
    const refused = await cli(['local-endpoint', '--port', '0', '--latency-ms', '-5']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("option '--latency-ms <ms>' argument '-5' is invalid");

    const running = await startCliEndpoint(['--port', '0', '--latency-ms', String(LATENCY_MS)]);
    const client = running.client();
    try {
      const started = performance.now();
      await client.send(new CreateSecretCommand({ Name: 'latency/flag', SecretString: 'flag-v1' }));
      expect(performance.now() - started).toBeGreaterThanOrEqual(LATENCY_MS - 2);
    } finally {
      client.destroy();
      expect((await running.stop()).code).toBe(0);
    }
  });
});
