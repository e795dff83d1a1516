/**
 * A minimal rotation function for the endpoint's and the driver's own tests, written against the
 * SDK only (not the engine): it follows docs/protocol.md#checks-before-every-step and docs/protocol.md#what-the-function-does-at-each-step closely enough to exercise the
 * service's side, and records every event it receives.
 */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { RotationEvent, RotationHandler } from '../../src/core/event.ts';

export const FAKE_ROTATOR_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:fake-rotator';

export interface FakeRotatorOptions {
  /** Throw at this step ... */
  failAt?: string;
  /** ... this many times (default: always). */
  failTimes?: number;
  /** finishSecret returns without moving AWSCURRENT. */
  skipPromotion?: boolean;
  /** Awaited at the start of every step (to hold a rotation mid-way). */
  gate?: () => Promise<void>;
  /** Called inside each step, after the checks, with the version's labels at that moment. */
  observe?: (event: RotationEvent, stages: string[]) => void;
}

export interface FakeRotator extends RotationHandler {
  readonly events: RotationEvent[];
}

export function fakeRotator(client: SecretsManagerClient, options: FakeRotatorOptions = {}): FakeRotator {
  const events: RotationEvent[] = [];
  let failures = 0;
  const handler = async (event: RotationEvent): Promise<void> => {
    events.push({ ...event });
    await options.gate?.();
    const { SecretId: arn, ClientRequestToken: token } = event;
    const described = await client.send(new DescribeSecretCommand({ SecretId: arn }));
    const versions = described.VersionIdsToStages ?? {};
    const stages = versions[token];
    if (!stages) throw new Error(`Secret version ${token} has no stage for rotation`);
    options.observe?.(event, stages);
    if (options.failAt === event.Step && failures < (options.failTimes ?? Number.POSITIVE_INFINITY)) {
      failures += 1;
      throw new Error(`injected failure at ${event.Step}`);
    }
    if (stages.includes('AWSCURRENT')) return;
    if (!stages.includes('AWSPENDING')) throw new Error(`Secret version ${token} not set as AWSPENDING`);
    switch (event.Step) {
      case 'createSecret': {
        try {
          await client.send(
            new GetSecretValueCommand({ SecretId: arn, VersionId: token, VersionStage: 'AWSPENDING' }),
          );
          return;
        } catch (error) {
          if (!(error instanceof ResourceNotFoundException)) throw error;
        }
        const current = await client.send(
          new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSCURRENT' }),
        );
        await client.send(
          new PutSecretValueCommand({
            SecretId: arn,
            ClientRequestToken: token,
            SecretString: `${current.SecretString}+rotated`,
            VersionStages: ['AWSPENDING'],
            ...(event.RotationToken ? { RotationToken: event.RotationToken } : {}),
          }),
        );
        return;
      }
      case 'setSecret':
        return;
      case 'testSecret':
        await client.send(
          new GetSecretValueCommand({ SecretId: arn, VersionId: token, VersionStage: 'AWSPENDING' }),
        );
        return;
      case 'finishSecret': {
        if (options.skipPromotion) return;
        const currentId = Object.entries(versions).find(([, labels]) => labels.includes('AWSCURRENT'))?.[0];
        await client.send(
          new UpdateSecretVersionStageCommand({
            SecretId: arn,
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: token,
            RemoveFromVersionId: currentId,
          }),
        );
        return;
      }
      default:
        throw new Error(`invalid step ${event.Step}`);
    }
  };
  return Object.assign(handler, { events });
}

/** A clock tests can move. */
export function manualClock(start = '2030-01-15T10:00:00.000Z') {
  let now = new Date(start).getTime();
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
    set(iso: string) {
      now = new Date(iso).getTime();
    },
  };
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
