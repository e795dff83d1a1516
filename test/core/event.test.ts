import { describe, expect, it } from 'vitest';
import { EventError } from '../../src/core/errors.ts';
import { parseRotationEvent } from '../../src/core/event.ts';

const valid = {
  Step: 'createSecret',
  SecretId: 'arn:aws:secretsmanager:us-east-1:1:secret:x',
  ClientRequestToken: 't-1',
};

describe('rotation event parsing', () => {
  it('accepts the service event, with and without RotationToken', () => {
    expect(parseRotationEvent(valid)).toEqual({
      step: 'createSecret',
      secretId: valid.SecretId,
      token: 't-1',
      rotationToken: undefined,
    });
    expect(parseRotationEvent({ ...valid, RotationToken: 'rt' }).rotationToken).toBe('rt');
  });

  it.each([
    [null, '(event)'],
    ['createSecret', '(event)'],
    [[valid], '(event)'],
    [{ ...valid, SecretId: undefined }, 'SecretId'],
    [{ ...valid, SecretId: '' }, 'SecretId'],
    [{ ...valid, SecretId: 42 }, 'SecretId'],
    [{ ...valid, ClientRequestToken: ' ' }, 'ClientRequestToken'],
    [{ ...valid, Step: undefined }, 'Step'],
    [{ ...valid, RotationToken: 7 }, 'RotationToken'],
    [{ ...valid, SecretId: 'x'.repeat(5000) }, 'SecretId'],
  ])('refuses %j naming the field %s', (event, field) => {
    let error: unknown;
    try {
      parseRotationEvent(event);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EventError);
    expect((error as EventError).field).toBe(field);
    expect((error as EventError).message).toContain(field);
  });

  it('leaves an unknown step for the engine to report in the order of docs/protocol.md#checks-before-every-step', () => {
    expect(parseRotationEvent({ ...valid, Step: 'dropTables' }).step).toBe('dropTables');
  });
});
