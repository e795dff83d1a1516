/**
 * What every database connection shares: deadline-bounded time limits, certificate naming, network error
 * codes, secret scrubbing.
 */
import type { PeerCertificate } from 'node:tls';
import { TargetRefusedError } from '../core/errors.ts';

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

export function scrubSecrets(text: string, secrets: readonly string[], maxLength = 300): string {
  let result = text;
  for (const secret of secrets) if (secret.length > 0) result = result.split(secret).join('[REDACTED]');
  return result.length > maxLength ? `${result.slice(0, maxLength)}…` : result;
}

/** `undefined` when the server refuses the credentials (after `onRefused`); any other failure throws. */
export async function unlessRefused<Session>(
  opening: Promise<Session>,
  onRefused: (error: TargetRefusedError) => void,
): Promise<Session | undefined> {
  try {
    return await opening;
  } catch (error) {
    if (!(error instanceof TargetRefusedError && error.failure === 'authentication')) throw error;
    onRefused(error);
    return undefined;
  }
}

/** Kept free at the end of an invocation, so a step out of time fails with its own sanitised error. */
export const DEADLINE_RESERVE_MS = 2_000;

// Less than this is no real attempt; a step that far past its budget fails fast instead.
const MIN_WAIT_MS = 1_000;

/** Never below one second unless the limit is; outside Lambda the limit stands. */
export function withinDeadline(limitMs: number, remainingTimeMs: number): number {
  return Math.min(limitMs, Math.max(MIN_WAIT_MS, remainingTimeMs - DEADLINE_RESERVE_MS));
}

/** node-postgres overrides `servername` with the host it connects to: the configured name is checked here. */
export function certificateNaming(serverName: string): {
  checkServerIdentity: (host: string, certificate: PeerCertificate) => Error | undefined;
} {
  // node:tls is loaded by the first TLS connection, not at cold start: taken from the loaded module then.
  return {
    checkServerIdentity: (_host, certificate) =>
      process.getBuiltinModule('node:tls').checkServerIdentity(serverName, certificate),
  };
}

/** `TLSSocket#encrypted` tells it from a plain socket without loading node:tls at cold start. */
export function isTlsSocket(stream: unknown): boolean {
  return (stream as { encrypted?: unknown } | undefined)?.encrypted === true;
}
