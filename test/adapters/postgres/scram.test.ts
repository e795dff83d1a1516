import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { scramSha256Verifier } from '../../../src/adapters/postgres/scram.ts';

// The example exchange of RFC 7677, section 3 (user "user", password "pencil").
const RFC7677 = {
  password: 'pencil',
  salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
  clientFirstBare: 'n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinalWithoutProof: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  clientProof: 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverSignature: '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function parts(verifier: string) {
  const match = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(
    verifier,
  );
  if (!match) throw new Error('not a verifier in PostgreSQL form');
  return {
    iterations: Number(match[1]),
    salt: Buffer.from(match[2]!, 'base64'),
    storedKey: Buffer.from(match[3]!, 'base64'),
    serverKey: Buffer.from(match[4]!, 'base64'),
  };
}

describe('scramSha256Verifier', () => {
  it('matches the keys of the RFC 7677 example exchange', () => {
    const verifier = scramSha256Verifier(RFC7677.password, {
      salt: Buffer.from(RFC7677.salt, 'base64'),
      iterations: 4096,
    });
    const { storedKey, serverKey, iterations, salt } = parts(verifier);
    expect(iterations).toBe(4096);
    expect(salt.toString('base64')).toBe(RFC7677.salt);

    const authMessage = `${RFC7677.clientFirstBare},${RFC7677.serverFirst},${RFC7677.clientFinalWithoutProof}`;
    // The server's signature in the RFC comes from ServerKey.
    expect(createHmac('sha256', serverKey).update(authMessage).digest('base64')).toBe(
      RFC7677.serverSignature,
    );
    // The client's proof in the RFC verifies against StoredKey, as a server checks it.
    const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = Buffer.from(RFC7677.clientProof, 'base64');
    const clientKey = Buffer.from(proof.map((byte, i) => byte ^ clientSignature[i]!));
    expect(createHash('sha256').update(clientKey).digest().equals(storedKey)).toBe(true);
  });

  it('uses a fresh 16-byte salt and 4096 iterations by default', () => {
    const first = parts(scramSha256Verifier('same password'));
    const second = parts(scramSha256Verifier('same password'));
    expect(first.iterations).toBe(4096);
    expect(first.salt).toHaveLength(16);
    expect(first.salt.equals(second.salt)).toBe(false);
    expect(first.storedKey.equals(second.storedKey)).toBe(false);
  });

  it('never contains the password', () => {
    const password = 'SCRAM-SHA-256-lookalike-password';
    expect(scramSha256Verifier(password)).not.toContain(password);
  });

  it('refuses passwords the server would SASLprep differently, and bad iteration counts', () => {
    expect(() => scramSha256Verifier('pässword')).toThrow(/printable ASCII/);
    expect(() => scramSha256Verifier('tab\there')).toThrow(/printable ASCII/);
    expect(() => scramSha256Verifier('')).toThrow(/printable ASCII/);
    expect(() => scramSha256Verifier('fine', { iterations: 0 })).toThrow(/iterations/);
  });
});
