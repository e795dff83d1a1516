/**
 * A Lambda container that the fault suite kills mid-step: a separate Node process that loads the
 * engine and every adapter, says `ready`, then runs one rotation step when asked over IPC, talking
 * to Secrets Manager and the target through the test's fault proxies. The test sends SIGKILL at
 * the chosen I/O point, so no `catch`, `finally` or shutdown code of the dying process runs.
 *
 * Messages: parent → `{ type: 'run', adapter, env, endpoint, region, event }`;
 * child → `{ type: 'ready' }`, then `{ type: 'done', ok, error? }` (error: name and message only).
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createRotationHandler } from '../../../src/core/engine.ts';
import type { RotationEvent } from '../../../src/core/event.ts';
import { type AdapterName, makeTarget } from './scenarios.ts';

/** The job the parent sends. */
export interface CrashChildJob {
  readonly type: 'run';
  readonly adapter: AdapterName;
  readonly env: Record<string, string>;
  /** The Secrets Manager endpoint (the proxy in front of the local endpoint). */
  readonly endpoint: string;
  readonly region: string;
  readonly requestTimeoutMs: number;
  readonly event: RotationEvent;
}

function send(message: Record<string, unknown>): void {
  if (process.connected) process.send?.(message);
}

process.on('message', (message: CrashChildJob) => {
  if (message?.type !== 'run') return;
  const client = new SecretsManagerClient({
    region: message.region,
    endpoint: message.endpoint,
    credentials: { accessKeyId: 'AKIDLOCALENDPOINT', secretAccessKey: 'local-endpoint-ignores-signatures' },
    maxAttempts: 1,
    requestHandler: {
      requestTimeout: message.requestTimeoutMs,
      connectionTimeout: message.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  });
  // Its log lines name the service "lambda-container", so a test can tell them from in-process ones.
  const env = { ...message.env, POWERTOOLS_SERVICE_NAME: 'lambda-container' };
  const handler = createRotationHandler(makeTarget(message.adapter), { client, env });
  handler(message.event).then(
    () => send({ type: 'done', ok: true }),
    (error: unknown) =>
      send({
        type: 'done',
        ok: false,
        error: error instanceof Error ? `${error.name}: ${error.message}` : 'non-error thrown',
      }),
  );
});

send({ type: 'ready' });
