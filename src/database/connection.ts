/**
 * What the database connections (adapters and client pools) share: the time limits bounded by the
 * Lambda deadline, the check of a configured name in the server's certificate, and, when a
 * driver's failure becomes one of the library's errors, the system error codes that mean the
 * network and the blanking of secrets in whatever text of the driver's is passed on.
 */
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

/** Node's system error codes that mean the server could not be reached or the connection broke. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ETIMEDOUT',
  'EADDRNOTAVAIL',
]);

/**
 * A driver's text made fit for an error message: every secret replaced by `[REDACTED]`, and cut
 * to `maxLength` characters.
 */
export function scrubSecrets(text: string, secrets: readonly string[], maxLength = 300): string {
  let result = text;
  for (const secret of secrets) if (secret.length > 0) result = result.split(secret).join('[REDACTED]');
  return result.length > maxLength ? `${result.slice(0, maxLength)}…` : result;
}

/**
 * Kept free at the end of a Lambda invocation: a step that runs out of time then fails with its
 * own sanitised error, and the server has given up the statement, before Lambda ends the process.
 */
export const DEADLINE_RESERVE_MS = 2_000;

// Less than this is no real attempt; a step that far past its budget fails fast instead.
const MIN_WAIT_MS = 1_000;

/**
 * A configured time limit, shortened so that it ends {@link DEADLINE_RESERVE_MS} before the
 * invocation does (but not below one second, unless the limit itself is shorter). Outside Lambda
 * the time left is infinite and the limit stands.
 */
export function withinDeadline(limitMs: number, remainingTimeMs: number): number {
  return Math.min(limitMs, Math.max(MIN_WAIT_MS, remainingTimeMs - DEADLINE_RESERVE_MS));
}

/**
 * TLS options that check the server's certificate against `serverName` instead of the host
 * connected to (a CNAME, an IP address). node-postgres sets `servername` to the host it connects
 * to whenever that is a name, overriding one given in `ssl`, so the name is checked here.
 */
export function certificateNaming(serverName: string): {
  checkServerIdentity: (host: string, certificate: PeerCertificate) => Error | undefined;
} {
  return { checkServerIdentity: (_host, certificate) => checkServerIdentity(serverName, certificate) };
}
