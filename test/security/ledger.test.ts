import { describe, expect, it } from 'vitest';
import { credentialsIn } from './support/ledger.ts';

describe('credentialsIn', () => {
  it('finds a credential as text, base64 or hex, and nothing else', () => {
    const password = 'Correct-Horse-9';
    expect(credentialsIn([Buffer.from(`p\0${password}\0`)], [password])).toEqual([password]);
    expect(credentialsIn([Buffer.from(password).toString('base64')], [password])).toEqual([password]);
    expect(credentialsIn([Buffer.from(password).toString('hex')], [password])).toEqual([password]);
    expect(credentialsIn([Buffer.from('SCRAM-SHA-256 n,,n=app,r=abc')], [password])).toEqual([]);
  });
});
