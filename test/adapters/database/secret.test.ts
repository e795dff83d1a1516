import { describe, expect, it } from 'vitest';
import { sameServer } from '../../../src/adapters/database/secret.ts';

describe('sameServer', () => {
  it('needs the same host (case and a trailing dot aside) and the same port', () => {
    expect(sameServer({ host: 'DB.internal.', port: 5432 }, { host: 'db.internal', port: 5432 })).toBe(true);
    expect(sameServer({ host: 'db.internal', port: 5432 }, { host: 'db.internal', port: 5433 })).toBe(false);
    expect(sameServer({ host: 'db1.internal', port: 5432 }, { host: 'db2.internal', port: 5432 })).toBe(
      false,
    );
  });
});
