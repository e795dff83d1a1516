// The AWS side of the CLI: a Secrets Manager client built from the global flags as the AWS CLI
// builds it, and AWS errors turned into one line saying what went wrong and what to do.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { type Env, envString } from '../core/config.ts';
import { ConfigurationError } from '../core/errors.ts';
import { errorCode } from '../core/secrets-manager.ts';
import { NETWORK_ERROR_CODES } from '../database/connection.ts';
import { CliError, EXIT, UsageError } from './exit.ts';

export interface GlobalFlags {
  readonly region?: string | undefined;
  readonly profile?: string | undefined;
  readonly endpointUrl?: string | undefined;
  readonly output: OutputFormat;
  readonly verbose?: boolean | undefined;
}

/** `--output`: as the AWS CLI, plus `csv` for `audit`. */
export const OUTPUT_FORMATS = ['table', 'json', 'csv'] as const;

export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * Whether a URL points at this machine (the local endpoint, a tunnel): such endpoints get dummy
 * credentials when none are configured, since they do not check signatures.
 */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

/** `--endpoint-url` without its trailing slash; a UsageError naming the flag unless http(s). */
function checkEndpointUrl(url: string): string {
  const protocol = URL.canParse(url) ? new URL(url).protocol : undefined;
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new UsageError(
      `--endpoint-url must be an http:// or https:// URL, got "${url}"`,
      'e.g. --endpoint-url http://127.0.0.1:4566',
    );
  }
  return url.replace(/\/+$/, '');
}

/**
 * The client for the global flags, resolved as the AWS CLI does. A loopback `--endpoint-url` with no
 * credentials gets dummy ones and us-east-1, so the local endpoint needs no AWS set-up.
 */
export function secretsManagerClient(
  flags: GlobalFlags,
  env: Env,
  overrides: Partial<SecretsManagerClientConfig> = {},
): SecretsManagerClient {
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
  const profile = flags.profile ?? envString(env, 'AWS_PROFILE');
  if (profile !== undefined) checkProfileExists(profile, flags.profile !== undefined, env);
  const hasCredentials = profile !== undefined || envString(env, 'AWS_ACCESS_KEY_ID') !== undefined;
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
    ...overrides,
  });
}

/** The profile names of AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, as the SDK reads them. */
function configuredProfiles(env: Env): string[] {
  const home = envString(env, 'HOME') ?? homedir();
  const files = [
    envString(env, 'AWS_CONFIG_FILE') ?? join(home, '.aws', 'config'),
    envString(env, 'AWS_SHARED_CREDENTIALS_FILE') ?? join(home, '.aws', 'credentials'),
  ];
  const names = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const match of text.matchAll(/^\s*\[\s*(?:profile\s+)?([^\]\s]+)\s*\]/gm)) {
      if (match[1] && !/^(sso-session|services)/.test(match[1])) names.add(match[1]);
    }
  }
  return [...names];
}

/** Refuses a profile that no AWS configuration file defines, before the SDK says only "no credentials". */
function checkProfileExists(profile: string, fromFlag: boolean, env: Env): void {
  const known = configuredProfiles(env);
  if (known.includes(profile)) return;
  const source = fromFlag ? '--profile' : 'AWS_PROFILE';
  throw new CliError(
    EXIT.AWS,
    `AWS profile "${profile}" (${source}) is not defined in ${envString(env, 'AWS_CONFIG_FILE') ?? '~/.aws/config'} or ${envString(env, 'AWS_SHARED_CREDENTIALS_FILE') ?? '~/.aws/credentials'}`,
    known.length > 0
      ? `use one of the defined profiles (${known.join(', ')}), or create it: aws configure --profile ${profile}`
      : `create it (aws configure --profile ${profile}, or aws configure sso), or drop ${source} to use the default credential chain`,
  );
}

/**
 * Asks an endpoint whether it is the local Secrets Manager endpoint of `secrets-rotator/testing`
 * (it answers `GET /` with its name). Real AWS endpoints answer differently or not at all.
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

/** The error code of an AWS SDK error (`ResourceNotFoundException`, `CredentialsProviderError`…). */
export const awsErrorCode = errorCode;

// The socket-level codes the database adapters know, plus the SDK's own timeout names.
const NETWORK_CODES: ReadonlySet<string> = new Set([
  ...NETWORK_ERROR_CODES,
  'TimeoutError',
  'RequestTimeout',
]);

type ErrorLink = { code?: unknown; message?: unknown; name?: unknown };
const text = (value: unknown) => (typeof value === 'string' ? value : '');

/** The error and the causes under it, at most four deep. */
function causeChain(error: unknown): ErrorLink[] {
  const chain: ErrorLink[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    chain.push(current as ErrorLink);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/** A Secrets Manager error as a CliError (exit 3, or 2 for a missing region) saying what failed and the fix. */
export function awsFailure(error: unknown, doing: string, flags: GlobalFlags): CliError {
  if (error instanceof CliError) return error;
  // A bad setting in the environment the command reads (PASSWORD_LENGTH=abc): usage, as in main.ts.
  if (error instanceof ConfigurationError) {
    return new UsageError(`${doing}: ${error.message}`, `fix ${error.setting} and run again`);
  }
  const message = error instanceof Error ? error.message : String(error);
  const fail = (problem: string, fix?: string, withCause = false) =>
    new CliError(EXIT.AWS, `${doing}: ${problem}`, fix, withCause ? { cause: error } : undefined);
  if (/region is missing/i.test(message)) {
    // A missing region is AWS configuration (exit 3), like missing credentials; a malformed --region is usage (2).
    return fail(
      'no AWS region is configured',
      'pass --region (e.g. --region eu-west-1), or set AWS_REGION, or a region in your profile',
    );
  }
  const chain = causeChain(error);
  const where = flags.endpointUrl
    ? `endpoint ${flags.endpointUrl}`
    : 'the Secrets Manager endpoint the SDK resolved';
  const wrongEndpoint = wrongKindOfEndpoint(error, chain, fail, where, flags.endpointUrl);
  if (wrongEndpoint) return wrongEndpoint;
  const network = chain
    .flatMap((link) => [text(link.code), text(link.name)])
    .find((value) => NETWORK_CODES.has(value));
  if (network) {
    return fail(
      `cannot reach ${flags.endpointUrl ? `endpoint ${flags.endpointUrl}` : 'AWS Secrets Manager'} (${network})`,
      flags.endpointUrl
        ? 'check --endpoint-url and that the endpoint is running (secrets-rotator local-endpoint starts one)'
        : 'check your network, proxy and --region',
      true,
    );
  }
  const code = awsErrorCode(error);
  switch (code) {
    case 'ResourceNotFoundException':
      return fail(
        `not found (${message})`,
        'check the secret name or ARN, and the region (--region) or --endpoint-url',
      );
    case 'CredentialsProviderError':
      // A named profile exists (checked when the client was built) but gave no credentials.
      return flags.profile
        ? fail(
            `AWS profile "${flags.profile}" gave no credentials`,
            `log in (aws sso login --profile ${flags.profile}), or give the profile credentials (aws configure --profile ${flags.profile})`,
          )
        : fail(
            'no AWS credentials found',
            'pass --profile, set AWS_PROFILE, run `aws sso login`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
          );
    case 'AccessDeniedException':
    case 'AccessDenied':
      return fail(
        `access denied (${message})`,
        "grant the missing secretsmanager:* permission (and kms:Decrypt for the secret's key) to this identity",
      );
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
    case 'ExpiredToken':
      return fail(
        `the credentials were refused (${code})`,
        'refresh them (aws sso login, new session token) or pick another --profile',
      );
    case 'DecryptionFailure':
      return fail(
        "the secret's KMS key cannot decrypt it for this identity",
        "grant kms:Decrypt on the secret's key",
      );
    default:
      return fail(`${code}: ${message}`);
  }
}

const ENDPOINT_FIX =
  'point --endpoint-url (or AWS_ENDPOINT_URL_SECRETS_MANAGER) at a Secrets Manager endpoint: the local endpoint prints its URL ' +
  '(secrets-rotator local-endpoint, e.g. http://127.0.0.1:4566); drop it to use AWS';

// TLS handshake failures that say the peer is not an HTTPS server at all.
const PLAINTEXT_TLS = /wrong version number|packet length too long|unknown protocol|http request/i;
// Certificate problems: the peer speaks TLS but its certificate is not trusted here.
const CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * An answer that did not come from Secrets Manager (another web server, a plain-HTTP port spoken
 * to with TLS, an untrusted certificate), turned into a message and fix instead of the SDK's raw
 * parser or OpenSSL error.
 */
function wrongKindOfEndpoint(
  error: unknown,
  chain: ErrorLink[],
  fail: (problem: string, fix: string, withCause: true) => CliError,
  where: string,
  endpointUrl: string | undefined,
): CliError | undefined {
  const tls = chain.find(
    (link) =>
      (text(link.code) === 'EPROTO' || text(link.code).startsWith('ERR_SSL')) &&
      PLAINTEXT_TLS.test(text(link.message)),
  );
  if (tls) {
    const http = endpointUrl?.replace(/^https:/, 'http:');
    return fail(
      `${where} does not speak HTTPS on that port (the TLS handshake got a plain-HTTP answer)`,
      http && http !== endpointUrl
        ? `use http:// for a plain-HTTP endpoint: --endpoint-url ${http}`
        : 'check the port and scheme of the endpoint',
      true,
    );
  }
  const certificate = chain.find((link) => CERTIFICATE_CODES.has(text(link.code)));
  if (certificate) {
    return fail(
      `the TLS certificate of ${where} is not trusted (${text(certificate.code)})`,
      'set AWS_CA_BUNDLE to the CA that signed it (a corporate proxy, a private endpoint), or check that the URL names the right host',
      true,
    );
  }
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  const message = text(chain[0]?.message);
  const name = text(chain[0]?.name);
  const unparsable = /Deserialization error/i.test(message) || name === 'SyntaxError';
  const unknown = name === 'Unknown' || message === 'UnknownError';
  if (unparsable || unknown || status === 404 || status === 405) {
    const answered = typeof status === 'number' ? `HTTP ${status}` : 'an answer';
    return fail(
      `${where} answered ${answered}${unparsable ? ' that is not a Secrets Manager response' : ' without a Secrets Manager error'}: it is not a Secrets Manager endpoint`,
      endpointUrl
        ? ENDPOINT_FIX
        : 'check AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL and proxy settings (HTTPS_PROXY): something other than Secrets Manager answered',
      true,
    );
  }
  return undefined;
}
