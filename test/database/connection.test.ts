import { describe, expect, it } from 'vitest';
import { DEADLINE_RESERVE_MS, scrubSecrets, withinDeadline } from '../../src/database/connection.ts';
import { trackSecrets } from '../support/leak-scan.ts';

describe('withinDeadline', () => {
  it('keeps the configured limit outside Lambda and while time is plentiful', () => {
    expect(withinDeadline(15_000, Number.POSITIVE_INFINITY)).toBe(15_000);
    expect(withinDeadline(15_000, 60_000)).toBe(15_000);
  });

  it('ends the wait DEADLINE_RESERVE_MS before the invocation does', () => {
    expect(withinDeadline(15_000, 5_000)).toBe(5_000 - DEADLINE_RESERVE_MS);
  });

  it('still allows one second near the deadline, but never more than the configured limit', () => {
    expect(withinDeadline(15_000, 1_500)).toBe(1_000);
    expect(withinDeadline(300, 1_500)).toBe(300);
    expect(withinDeadline(300, Number.POSITIVE_INFINITY)).toBe(300);
  });
});

describe('scrubSecrets', () => {
  const secret = 'Scrubbed-Secret-77';
  trackSecrets(secret);

  it('blanks every occurrence of every secret, then cuts the text', () => {
    expect(scrubSecrets(`a ${secret} b ${secret}`, [secret, ''])).toBe('a [REDACTED] b [REDACTED]');
    const long = scrubSecrets(`${'x'.repeat(295)}${secret}`, [secret]);
    expect(long).toBe(`${'x'.repeat(295)}[REDA…`);
    expect(scrubSecrets(`${'y'.repeat(10)}`, [], 5)).toBe('yyyyy…');
  });
});
