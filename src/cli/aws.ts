/**
 * The AWS side of the CLI: a Secrets Manager client built from the global flags as the AWS CLI
 * builds it (default credential chain, `--region`, `--profile`, `--endpoint-url`), and AWS errors
 * turned into one line saying what went wrong and what to do.
 */

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { NETWORK_ERROR_CODES } from '../adapters/database/connection.ts';
import { type Env, envString } from '../core/config.ts';
import { errorCode } from '../core/stages.ts';
import { CliError, EXIT, UsageError } from './exit.ts';

/**
 * The global flags every command accepts.
 *
 * @example
 * ```ts
 * const flags: GlobalFlags = { region: 'eu-west-1', output: 'table' };
 * ```
 */
export interface GlobalFlags {
  readonly region?: string | undefined;
  readonly profile?: string | undefined;
  readonly endpointUrl?: string | undefined;
  readonly output: OutputFormat;
  readonly verbose?: boolean | undefined;
}

/**
 * `--output`: as the AWS CLI, plus `csv` for `audit`.
 *
 * @example
 * ```ts
 * const format: OutputFormat = 'json';
 * ```
 */
export type OutputFormat = 'table' | 'json' | 'csv';

/**
 * Output formats, for the flag's choices.
 *
 * @example
 * ```ts
 * new Option('--output <format>').choices(OUTPUT_FORMATS);
 * ```
 */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'csv'];

/**
 * Whether a URL points at this machine (the local endpoint, a tunnel): such endpoints get dummy
 * credentials when none are configured, since they do not check signatures.
 *
 * @example
 * ```ts
 * isLoopbackUrl('http://127.0.0.1:4566'); // true
 * ```
 */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

/**
 * Checks `--endpoint-url` and returns it normalised (no trailing slash).
 *
 * @throws UsageError naming the flag when it is not an http(s) URL.
 * @example
 * ```ts
 * checkEndpointUrl('http://127.0.0.1:4566/'); // 'http://127.0.0.1:4566'
 * ```
 */
export function checkEndpointUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `--endpoint-url must be an http:// or https:// URL, got "${url}"`,
      'e.g. --endpoint-url http://127.0.0.1:4566',
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(
      `--endpoint-url must be an http:// or https:// URL, got "${url}"`,
      'e.g. --endpoint-url http://127.0.0.1:4566',
    );
  }
  return url.replace(/\/+$/, '');
}

/**
 * Builds the Secrets Manager client for the global flags. The region comes from `--region`, then
 * `AWS_REGION` / `AWS_DEFAULT_REGION`, then the profile's configuration; credentials from the default
 * chain (`--profile` selects a profile). A loopback `--endpoint-url` with no credentials configured
 * gets dummy ones and region `us-east-1`, so the local endpoint works with no AWS set-up at all.
 *
 * @example
 * ```ts
 * const client = secretsManagerClient({ endpointUrl: local.endpoint, output: 'table' }, {});
 * ```
 */
export function secretsManagerClient(flags: GlobalFlags, env: Env): SecretsManagerClient {
  const endpoint = flags.endpointUrl ? checkEndpointUrl(flags.endpointUrl) : undefined;
  const local = endpoint !== undefined && isLoopbackUrl(endpoint);
  const region =
    flags.region ??
    envString(env, 'AWS_REGION') ??
    envString(env, 'AWS_DEFAULT_REGION') ??
    (local ? 'us-east-1' : undefined);
  if (flags.region !== undefined && !/^[a-z0-9]+(-[a-z0-9]+)+$/.test(flags.region)) {
    throw new UsageError(`--region must be an AWS region such as eu-west-1, got "${flags.region}"`);
  }
  const hasCredentials =
    flags.profile !== undefined ||
    envString(env, 'AWS_PROFILE') !== undefined ||
    envString(env, 'AWS_ACCESS_KEY_ID') !== undefined;
  return new SecretsManagerClient({
    ...(region ? { region } : {}),
    ...(flags.profile ? { profile: flags.profile } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(local && !hasCredentials
      ? {
          credentials: {
            accessKeyId: 'AKIDLOCALENDPOINT',
            secretAccessKey: 'local-endpoint-ignores-signatures',
          },
        }
      : {}),
  });
}

/**
 * Asks an endpoint whether it is the local Secrets Manager endpoint of `secrets-rotator/testing`
 * (it answers `GET /` with its name). Real AWS endpoints answer differently or not at all.
 *
 * @example
 * ```ts
 * if (!(await isLocalSecretsManager('http://127.0.0.1:4566'))) throw new Error('not local');
 * ```
 */
export async function isLocalSecretsManager(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(3_000) });
    const body = (await response.json()) as { service?: unknown };
    return typeof body.service === 'string' && body.service.includes('local Secrets Manager endpoint');
  } catch {
    return false;
  }
}

/**
 * The error code of an AWS SDK error (`ResourceNotFoundException`, `CredentialsProviderError`…).
 *
 * @example
 * ```ts
 * awsErrorCode(error) === 'ResourceNotFoundException';
 * ```
 */
export const awsErrorCode = errorCode;

// The socket-level codes the database adapters know, plus the SDK's own timeout names.
const NETWORK_CODES: ReadonlySet<string> = new Set([
  ...NETWORK_ERROR_CODES,
  'TimeoutError',
  'RequestTimeout',
]);

function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    const name = (current as { name?: unknown }).name;
    if (typeof name === 'string' && NETWORK_CODES.has(name)) return name;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Turns an error of a Secrets Manager call into a {@link CliError} (exit code 3, or 2 for a missing
 * region) that says what failed and how to fix it.
 *
 * @param doing - what the CLI was doing, e.g. `reading secret app/db`.
 * @example
 * ```ts
 * try { await client.send(command); } catch (error) { throw awsFailure(error, 'reading secret app/db', flags); }
 * ```
 */
export function awsFailure(error: unknown, doing: string, flags: GlobalFlags): CliError {
  if (error instanceof CliError) return error;
  const code = awsErrorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const where = flags.endpointUrl ? `endpoint ${flags.endpointUrl}` : 'AWS Secrets Manager';
  if (/region is missing/i.test(message)) {
    return new UsageError(
      `${doing}: no AWS region is configured`,
      'pass --region (e.g. --region eu-west-1), or set AWS_REGION, or a region in your profile',
    );
  }
  const network = networkCode(error);
  if (network) {
    return new CliError(
      EXIT.AWS,
      `${doing}: cannot reach ${where} (${network})`,
      flags.endpointUrl
        ? 'check --endpoint-url and that the endpoint is running (secrets-rotator local-endpoint starts one)'
        : 'check your network, proxy and --region',
      { cause: error },
    );
  }
  switch (code) {
    case 'ResourceNotFoundException':
      return new CliError(
        EXIT.AWS,
        `${doing}: not found (${message})`,
        'check the secret name or ARN, and the region (--region) or --endpoint-url',
      );
    case 'CredentialsProviderError':
      return new CliError(
        EXIT.AWS,
        `${doing}: no AWS credentials found`,
        'pass --profile, set AWS_PROFILE, run `aws sso login`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      );
    case 'AccessDeniedException':
    case 'AccessDenied':
      return new CliError(
        EXIT.AWS,
        `${doing}: access denied (${message})`,
        "grant the missing secretsmanager:* permission (and kms:Decrypt for the secret's key) to this identity",
      );
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
    case 'ExpiredToken':
      return new CliError(
        EXIT.AWS,
        `${doing}: the credentials were refused (${code})`,
        'refresh them (aws sso login, new session token) or pick another --profile',
      );
    case 'DecryptionFailure':
      return new CliError(
        EXIT.AWS,
        `${doing}: the secret's KMS key cannot decrypt it for this identity`,
        "grant kms:Decrypt on the secret's key",
      );
    default:
      return new CliError(EXIT.AWS, `${doing}: ${code}: ${message}`);
  }
}
