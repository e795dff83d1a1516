/**
 * What the database adapters' connections share when they turn a driver's failure into one of
 * the library's errors: the system error codes that mean the network, and the blanking of secrets
 * in whatever text of the driver's is passed on.
 */

/**
 * Node's system error codes that mean the server could not be reached or the connection broke.
 *
 * @example
 * ```ts
 * if (NETWORK_ERROR_CODES.has(code)) return new TargetUnreachableError('network', `${doing}: ${code}`);
 * ```
 */
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
 *
 * @example
 * ```ts
 * scrubSecrets('password "hunter22" refused', ['hunter22']); // 'password "[REDACTED]" refused'
 * ```
 */
export function scrubSecrets(text: string, secrets: readonly string[], maxLength = 300): string {
  let result = text;
  for (const secret of secrets) if (secret.length > 0) result = result.split(secret).join('[REDACTED]');
  return result.length > maxLength ? `${result.slice(0, maxLength)}…` : result;
}
