import { CreateSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { randomSecret } from '../../src/adapters/random-secret/index.ts';
import { readSecretAllowlist } from '../../src/core/allowed-secrets.ts';
import { createRotationHandler } from '../../src/core/engine.ts';
import { ConfigurationError } from '../../src/core/errors.ts';
import { rotateSecret } from '../../src/testing/index.ts';
import { useLocalSecretsManager } from '../support/local-secrets-manager.ts';

const local = useLocalSecretsManager();

async function secret(name: string, tags: Record<string, string> = {}) {
  const answer = await local.client.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: 'initial-allowlist-value',
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  return {
    arn: answer.ARN!,
    description: await local.client.send(new DescribeSecretCommand({ SecretId: answer.ARN! })),
  };
}

/** Rotates `arn` with a function configured by `env`; returns the error text, or 'rotated'. */
async function rotateWith(env: Record<string, string>, arn: string): Promise<string> {
  const handler = createRotationHandler(randomSecret(), {
    client: local.client,
    env: { PASSWORD_GENERATOR: 'local', ...env },
  });
  const result = await rotateSecret({ client: local.client, secretId: arn, handler });
  return result.ok ? 'rotated' : (result.error ?? 'failed');
}

describe('ALLOWED_SECRET_IDS and ALLOWED_SECRET_TAG', () => {
  it('match exact names and ARNs, partial ARNs, name prefixes and ARN patterns', async () => {
    const { arn, description } = await secret('prod/payments/db');
    const partial = arn.replace(/-[A-Za-z0-9]{6}$/, '');
    const allows = (ids: string) => {
      try {
        readSecretAllowlist({ ALLOWED_SECRET_IDS: ids }).check(arn, description);
        return true;
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigurationError);
        return false;
      }
    };
    expect(allows('prod/payments/db')).toBe(true);
    expect(allows(arn)).toBe(true);
    expect(allows(partial)).toBe(true);
    expect(allows('prod/*')).toBe(true);
    expect(allows('prod/payments/d?')).toBe(true);
    expect(allows('other, prod/pay*')).toBe(true);
    expect(allows('arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/*')).toBe(true);
    expect(allows('arn:aws:secretsmanager:*:123456789012:secret:prod/payments/db-??????')).toBe(true);

    expect(allows('prod/payments')).toBe(false);
    expect(allows('prod/payments/d')).toBe(false);
    expect(allows('staging/*')).toBe(false);
    // A name pattern is matched against the name, never the ARN (the ARN starts with "arn:").
    expect(allows('arn*')).toBe(false);
    expect(allows('arn:aws:secretsmanager:us-east-1:999999999999:secret:prod/*')).toBe(false);
    expect(allows('arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/payments')).toBe(false);
    // Regular-expression characters in an entry are literal.
    expect(allows('prod/payments.db')).toBe(false);
    expect(allows('prod/payments/(db|x)')).toBe(false);
  });

  it('refuse malformed entries at start-up, naming the variable and the fix', () => {
    const read = (env: Record<string, string>) => () =>
      createRotationHandler(randomSecret(), { client: local.client, env });
    expect(read({ ALLOWED_SECRET_IDS: 'prod/* staging/*' })).toThrow(
      /ALLOWED_SECRET_IDS has the entry .* contains a space/,
    );
    expect(read({ ALLOWED_SECRET_IDS: 'arn:aws:s3:::bucket/*' })).toThrow(/not a Secrets Manager ARN/);
    expect(read({ ALLOWED_SECRET_IDS: '*' })).toThrow(/allows every secret; unset it/);
    expect(read({ ALLOWED_SECRET_TAG: 'team' })).toThrow(/ALLOWED_SECRET_TAG must be key=value/);
    expect(read({ ALLOWED_SECRET_TAG: '=payments' })).toThrow(/ALLOWED_SECRET_TAG must be key=value/);
  });

  it('rotate an allowed secret and refuse others before any version is read, with no extra call', async () => {
    const paid = await secret('fleet/payments/db', { team: 'payments' });
    const other = await secret('fleet/search/db', { team: 'search' });
    const untagged = await secret('other/db');
    const env = { ALLOWED_SECRET_IDS: 'fleet/*', ALLOWED_SECRET_TAG: 'team=payments' };

    const before = local.sm.calls.length;
    expect(await rotateWith(env, paid.arn)).toBe('rotated');
    const calls = local.sm.calls.slice(before).map((call) => call.operation);
    // The same calls as without the rules: one DescribeSecret per step, nothing added for the tag.
    const plain = await secret('fleet/payments/plain', { team: 'payments' });
    const beforePlain = local.sm.calls.length;
    expect(await rotateWith({}, plain.arn)).toBe('rotated');
    // (Sorted: without the rules the reads go out together with DescribeSecret, in any order.)
    expect(
      local.sm.calls
        .slice(beforePlain)
        .map((call) => call.operation)
        .sort(),
    ).toEqual(calls.sort());

    const beforeRefusal = local.sm.calls.length;
    expect(await rotateWith(env, other.arn)).toMatch(
      /ALLOWED_SECRET_TAG requires the tag team=payments, which secret .*fleet\/search\/db.* does not carry/,
    );
    expect(await rotateWith(env, untagged.arn)).toMatch(
      /ALLOWED_SECRET_IDS does not list secret .*other\/db.*a matching prefix such as other\/\*/,
    );
    // The function read only the description: no version value was read or written.
    const refusedCalls = local.sm.calls.slice(beforeRefusal).map((call) => call.operation);
    expect(refusedCalls).not.toContain('GetSecretValue');
    expect(refusedCalls).not.toContain('PutSecretValue');
    expect(refusedCalls).not.toContain('UpdateSecretVersionStage');
  });
});
