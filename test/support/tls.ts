/**
 * Throw-away TLS material for tests: a private certificate authority and a server certificate it
 * signed, made with the `openssl` command-line tool.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';

/**
 * What {@link makeTestCertificates} writes: PEM texts and the paths of the files holding them.
 *
 * @example
 * ```ts
 * const certs = await makeTestCertificates(dir);
 * const client = new pg.Client({ ssl: { ca: certs.caCert, servername: 'localhost' } });
 * ```
 */
export interface TestCertificates {
  /** The CA certificate (PEM) clients trust. */
  readonly caCert: string;
  /** The CA private key (PEM). */
  readonly caKey: string;
  /** The server certificate (PEM), signed by the CA. */
  readonly serverCert: string;
  /** The server private key (PEM). */
  readonly serverKey: string;
  /** Path of the CA certificate file. */
  readonly caPath: string;
  /** Path of the CA private key file (mode 0600). */
  readonly caKeyPath: string;
  /** Path of the server certificate file. */
  readonly certPath: string;
  /** Path of the server private key file (mode 0600). */
  readonly keyPath: string;
}

/**
 * Options for {@link makeTestCertificates}.
 *
 * @example
 * ```ts
 * const options: TestCertificateOptions = { commonName: 'db.test', altNames: ['db.test'] };
 * ```
 */
export interface TestCertificateOptions {
  /** Subject common name of the server certificate. Default `localhost`. */
  commonName?: string;
  /**
   * Subject alternative names: host names become DNS entries, IPv4/IPv6 literals IP entries.
   * Default `['localhost', '127.0.0.1', 'db.test']`.
   */
  altNames?: readonly string[];
  /** Subject common name of the CA. Default `secrets-rotator test CA`. */
  caName?: string;
  /** Validity in days of both certificates. Default 2. */
  days?: number;
}

/**
 * Makes a self-signed CA and a server certificate signed by it (ECDSA P-256, quick to generate),
 * and writes them to `dir` as `ca.crt`, `ca.key`, `server.crt` and `server.key`.
 *
 * Keys are mode 0600 and owned by this process's user. The database harnesses copy the server key
 * into their own instance directory with the ownership their server needs, so the same files can
 * serve PostgreSQL and MariaDB. Calling it twice with different directories gives two unrelated
 * CAs, which is how tests make a certificate that must not be trusted.
 *
 * @param dir directory to write into; created when missing.
 * @throws Error when `openssl` is missing or fails; the error carries its output.
 * @example
 * ```ts
 * const certs = await makeTestCertificates(await mkdtemp(join(tmpdir(), 'certs-')), {
 *   commonName: 'localhost',
 *   altNames: ['localhost', '127.0.0.1', 'db.test'],
 * });
 * const db = await startPostgres({ tls: { cert: certs.certPath, key: certs.keyPath } });
 * ```
 */
export async function makeTestCertificates(
  dir: string,
  options: TestCertificateOptions = {},
): Promise<TestCertificates> {
  const commonName = options.commonName ?? 'localhost';
  const altNames = options.altNames ?? ['localhost', '127.0.0.1', 'db.test'];
  const caName = options.caName ?? 'secrets-rotator test CA';
  const days = String(options.days ?? 2);
  await mkdir(dir, { recursive: true });
  const caPath = join(dir, 'ca.crt');
  const caKeyPath = join(dir, 'ca.key');
  const certPath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  const csrPath = join(dir, 'server.csr');
  const extPath = join(dir, 'server.ext');
  const keyAlgorithm = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  await openssl([
    'req',
    '-x509',
    ...keyAlgorithm,
    '-keyout',
    caKeyPath,
    '-out',
    caPath,
    '-days',
    days,
    '-subj',
    `/CN=${caName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl([
    'req',
    '-new',
    ...keyAlgorithm,
    '-keyout',
    keyPath,
    '-out',
    csrPath,
    '-subj',
    `/CN=${commonName}`,
  ]);
  const subjectAltName = altNames.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
  await writeFile(
    extPath,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      ...(subjectAltName ? [`subjectAltName=${subjectAltName}`] : []),
      '',
    ].join('\n'),
  );
  await openssl([
    'x509',
    '-req',
    '-in',
    csrPath,
    '-CA',
    caPath,
    '-CAkey',
    caKeyPath,
    '-CAcreateserial',
    '-out',
    certPath,
    '-days',
    days,
    '-sha256',
    '-extfile',
    extPath,
  ]);
  await chmod(caKeyPath, 0o600);
  await chmod(keyPath, 0o600);
  await chmod(caPath, 0o644);
  await chmod(certPath, 0o644);

  const [caCert, caKey, serverCert, serverKey] = await Promise.all(
    [caPath, caKeyPath, certPath, keyPath].map((path) => readFile(path, 'utf8')),
  );
  return {
    caCert: caCert!,
    caKey: caKey!,
    serverCert: serverCert!,
    serverKey: serverKey!,
    caPath,
    caKeyPath,
    certPath,
    keyPath,
  };
}

async function openssl(args: readonly string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('openssl', args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        reject(
          new Error(
            missing
              ? 'makeTestCertificates needs the `openssl` command; install it (apt-get install openssl).'
              : `openssl ${args[0]} failed: ${stderr || stdout || error.message}`,
          ),
        );
      } else {
        resolve();
      }
    });
  });
}
