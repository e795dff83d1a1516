import { describe, expect, it } from 'vitest';
import { SecretShapeError } from '../../src/core/errors.ts';
import { refuseRevokingOutsidePair, sameServer } from '../../src/database/secret.ts';

describe('sameServer', () => {
  it('needs the same host (case and a trailing dot aside) and the same port', () => {
    expect(sameServer({ host: 'DB.internal.', port: 5432 }, { host: 'db.internal', port: 5432 })).toBe(true);
    expect(sameServer({ host: 'db.internal', port: 5432 }, { host: 'db.internal', port: 5433 })).toBe(false);
    expect(sameServer({ host: 'db1.internal', port: 5432 }, { host: 'db2.internal', port: 5432 })).toBe(
      false,
    );
  });
});

describe('refuseRevokingOutsidePair', () => {
  const current = { username: 'app_clone', host: 'db.internal', port: 5432 };

  it('allows the other user of the pair on the same server', () => {
    expect(() => refuseRevokingOutsidePair({ ...current, username: 'app' }, current)).not.toThrow();
    expect(() =>
      refuseRevokingOutsidePair({ ...current, username: 'app_clone' }, { ...current, username: 'app' }),
    ).not.toThrow();
  });

  it('refuses another user, the current user itself, or another server', () => {
    expect(() => refuseRevokingOutsidePair({ ...current, username: 'payments' }, current)).toThrow(
      /"payments", which is not the other user of the current version's pair \("app"\)/,
    );
    expect(() => refuseRevokingOutsidePair(current, current)).toThrow(SecretShapeError);
    expect(() => refuseRevokingOutsidePair({ ...current, username: 'app', port: 6543 }, current)).toThrow(
      /db\.internal:6543, not the current version's server db\.internal:5432/,
    );
  });
});
