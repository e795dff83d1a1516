import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, type TestCertificates } from '../support/tls.ts';

describe('makeTestCertificates', () => {
  let dir: string;
  let certs: TestCertificates;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sr-certs-'));
    certs = await makeTestCertificates(dir, {
      commonName: 'localhost',
      altNames: ['localhost', '127.0.0.1', 'db.test'],
    });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes a CA certificate that is a CA and signed itself', () => {
    const ca = new X509Certificate(certs.caCert);
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
  });

  it('makes a server certificate signed by the CA, naming every requested host and address', () => {
    const ca = new X509Certificate(certs.caCert);
    const server = new X509Certificate(certs.serverCert);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.subject).toContain('CN=localhost');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkHost('db.test')).toBe('db.test');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('other.test')).toBeUndefined();
  });

  it('gives an unrelated CA when called again in another directory', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'sr-certs-'));
    try {
      const other = await makeTestCertificates(otherDir);
      const server = new X509Certificate(certs.serverCert);
      expect(server.verify(new X509Certificate(other.caCert).publicKey)).toBe(false);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('writes the PEM files it returns, keys readable by their owner only', async () => {
    expect(certs.certPath.startsWith(dir)).toBe(true);
    expect((await stat(certs.keyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(certs.caKeyPath)).mode & 0o777).toBe(0o600);
    expect(certs.serverKey).toContain('PRIVATE KEY');
  });
});
