/** The ElastiCache secret, password rules, settings and API error mapping, without a server. */
import {
  DescribeUsersCommand,
  ElastiCacheClient,
  InvalidParameterValueException,
  ModifyUserCommand,
} from '@aws-sdk/client-elasticache';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  readElastiCacheApiSettings,
  setPasswords,
  waitUntilActive,
} from '../../../src/adapters/elasticache/api.ts';
import {
  elastiCachePasswordProblem,
  parseElastiCacheSecret,
} from '../../../src/adapters/elasticache/secret.ts';
import { rejection } from '../../support/rotation-rig.ts';

const PASSWORD = 'Valid-Password-0123456789';
const secret = (extra: Record<string, unknown>) =>
  JSON.stringify({
    engine: 'valkey',
    host: 'cache.example.com',
    username: 'app',
    password: PASSWORD,
    ...extra,
  });

describe('the secret', () => {
  it('keeps every field, with userId and the Redis port by default', () => {
    const parsed = parseElastiCacheSecret(secret({ userId: 'app-user', team: 'x' }));
    expect(parsed).toMatchObject({
      userId: 'app-user',
      username: 'app',
      port: 6379,
      host: 'cache.example.com',
    });
    expect(parsed.fields.team).toBe('x');
  });

  it.each([
    [{}, '"userId" is missing'],
    [{ userId: 7 }, '"userId" is a number'],
    [{ userId: '1-starts-with-digit' }, '"userId" is not an ElastiCache user id'],
    [{ userId: 'a', engine: 'postgres' }, '"engine" is "postgres"'],
    [{ userId: 'a', host: '' }, '"host" is empty'],
  ])('%j is refused naming the field, never quoting the password', (extra, message) => {
    const error = (() => {
      try {
        parseElastiCacheSecret(secret(extra));
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('accepted');
    })();
    expect(error.message).toContain(message);
    expect(error.message).not.toContain(PASSWORD);
  });

  it('passwords ElastiCache refuses are named without being quoted', () => {
    expect(elastiCachePasswordProblem(PASSWORD)).toBeUndefined();
    expect(elastiCachePasswordProblem('short-Pw1')).toBe('is 9 characters long; ElastiCache takes 16 to 128');
    expect(elastiCachePasswordProblem('x'.repeat(129))).toContain('129 characters');
    expect(elastiCachePasswordProblem(`${PASSWORD}@,`)).toBe(
      'holds , @, which ElastiCache refuses in passwords',
    );
    expect(elastiCachePasswordProblem(`${PASSWORD} x`)).toContain('space');
  });
});

describe('settings', () => {
  it('defaults, and a bad value names the variable', () => {
    expect(readElastiCacheApiSettings({})).toEqual({
      waitTimeoutMs: 240_000,
      pollIntervalMs: 3_000,
      endpoint: undefined,
      requestTimeoutMs: 10_000,
    });
    expect(() => readElastiCacheApiSettings({ AWS_ENDPOINT_URL_ELASTICACHE: 'localhost:1' })).toThrow(
      /AWS_ENDPOINT_URL_ELASTICACHE must be an http/,
    );
    expect(() => readElastiCacheApiSettings({ ELASTICACHE_POLL_INTERVAL_MS: '0' })).toThrow(
      /ELASTICACHE_POLL_INTERVAL_MS/,
    );
    expect(() => readElastiCacheApiSettings({ ELASTICACHE_WAIT_TIMEOUT_MS: 'soon' })).toThrow(
      /ELASTICACHE_WAIT_TIMEOUT_MS/,
    );
  });
});

describe('API errors (aws-sdk-client-mock)', () => {
  const mock = mockClient(ElastiCacheClient);
  afterEach(() => mock.reset());
  const ctx = { logger: { debug() {}, info() {}, warn() {}, error() {} }, remainingTimeMs: () => 60_000 };
  const wait = { waitTimeoutMs: 1_000, pollIntervalMs: 10, endpoint: undefined, requestTimeoutMs: 1_000 };

  it('access denied names the IAM actions', async () => {
    mock
      .on(DescribeUsersCommand)
      .rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));
    const error = await rejection(waitUntilActive('app-user', 'app', wait, ctx));
    expect(error.message).toContain('permission failure');
    expect(error.message).toContain('elasticache:DescribeUsers and elasticache:ModifyUser');
  });

  it('a rejected ModifyUser never quotes the passwords, even when AWS does', async () => {
    mock
      .on(ModifyUserCommand)
      .rejects(new InvalidParameterValueException({ message: `bad password ${PASSWORD}`, $metadata: {} }));
    const error = await rejection(setPasswords(wait, 'app-user', [PASSWORD]));
    expect(error.message).toContain('InvalidParameterValueException');
    expect(error.message).not.toContain(PASSWORD);
  });

  it('throttling is a retryable failure', async () => {
    mock
      .on(DescribeUsersCommand)
      .rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    const error = await rejection(waitUntilActive('app-user', 'app', wait, ctx));
    expect(error.name).toBe('TargetUnreachableError');
  });

  it('a user being deleted is refused at once', async () => {
    mock.on(DescribeUsersCommand).resolves({
      Users: [
        { UserId: 'app-user', UserName: 'app', Status: 'deleting', Authentication: { Type: 'password' } },
      ],
    });
    expect((await rejection(waitUntilActive('app-user', 'app', wait, ctx))).message).toContain(
      'being deleted',
    );
  });
});
