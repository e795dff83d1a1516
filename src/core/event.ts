import type { Context } from 'aws-lambda';
import { EventError } from './errors.ts';

/**
 * The event Secrets Manager sends a rotation function (docs/protocol.md#rotatesecret). `Step` is typed as a string
 * because an unknown step must reach the engine's checks, which report it in their own order.
 *
 * @example
 * ```ts
 * const event: RotationEvent = {
 *   Step: 'createSecret',
 *   SecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf',
 *   ClientRequestToken: 'b8f5a1f0-0d7a-4f7e-9a8c-1d2e3f4a5b6c',
 * };
 * ```
 */
export interface RotationEvent {
  Step: string;
  SecretId: string;
  ClientRequestToken: string;
  /** Present when the service wants it passed on to PutSecretValue (docs/protocol.md#rotationtoken). */
  RotationToken?: string;
}

/**
 * A rotation function: what `createRotationHandler` returns and what Lambda invokes. The context is
 * optional so tests and the local driver can call it directly.
 *
 * @example
 * ```ts
 * const handler: RotationHandler = createRotationHandler(randomSecret());
 * await handler({ Step: 'testSecret', SecretId: arn, ClientRequestToken: token });
 * ```
 */
export type RotationHandler = (event: RotationEvent, context?: Partial<Context>) => Promise<void>;

/** The event after validation. */
export interface ParsedRotationEvent {
  readonly step: string;
  readonly secretId: string;
  readonly token: string;
  readonly rotationToken: string | undefined;
}

// Version ids are 32 to 64 characters; the SDK fills in UUIDs. Be a little lenient on the lower
// bound (the service itself accepts any id a caller registered) but refuse absurd sizes.
const MAX_ID_LENGTH = 2048;

/** Validates the raw event and names the field at fault. Runs before any Secrets Manager call. */
export function parseRotationEvent(raw: unknown): ParsedRotationEvent {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new EventError('(event)', 'must be a JSON object with Step, SecretId and ClientRequestToken');
  }
  const event = raw as Record<string, unknown>;
  const text = (field: string): string => {
    const value = event[field];
    if (typeof value !== 'string' || value.trim() === '') {
      throw new EventError(field, `must be a non-empty string, got ${describeType(value)}`);
    }
    if (value.length > MAX_ID_LENGTH) {
      throw new EventError(
        field,
        `is ${value.length} characters long; at most ${MAX_ID_LENGTH} are accepted`,
      );
    }
    return value;
  };
  const secretId = text('SecretId');
  const token = text('ClientRequestToken');
  const step = text('Step');
  let rotationToken: string | undefined;
  if (event.RotationToken !== undefined && event.RotationToken !== null) {
    rotationToken = text('RotationToken');
  }
  return { step, secretId, token, rotationToken };
}

function describeType(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return 'an empty string';
  return `a ${typeof value}`;
}
