import type { Context } from 'aws-lambda';
import { EventError } from './errors.ts';

/** The event Secrets Manager sends; `Step` is a string so an unknown step reaches the engine's checks in order. */
export interface RotationEvent {
  Step: string;
  SecretId: string;
  ClientRequestToken: string;
  /** Present when the service wants it passed on to PutSecretValue (docs/protocol.md#rotationtoken). */
  RotationToken?: string;
}

/** What `createRotationHandler` returns and Lambda invokes; the context is optional for direct calls. */
export type RotationHandler = (event: RotationEvent, context?: Partial<Context>) => Promise<void>;

export interface ParsedRotationEvent {
  readonly step: string;
  readonly secretId: string;
  readonly token: string;
  readonly rotationToken: string | undefined;
}

// The service accepts any id a caller registered, so only absurd sizes are refused.
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
