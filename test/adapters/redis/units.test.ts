import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { addPassword, splitRules } from '../../../src/adapters/redis/acl.ts';
import { tryOpenRedis } from '../../../src/adapters/redis/connect.ts';
import { decodeReply, encodeCommand, RespError } from '../../../src/adapters/redis/resp.ts';
import { parseRedisSecret } from '../../../src/adapters/redis/secret.ts';
import { readRedisSettings } from '../../../src/adapters/redis/settings.ts';
import { ConfigurationError, SecretShapeError, TargetRefusedError } from '../../../src/core/errors.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { directContext, rejection } from './rig.ts';

describe('RESP codec', () => {
  it('encodes each argument as a bulk string whose length counts bytes, not characters', () => {
    expect(encodeCommand(['AUTH', 'ü', 'a b\r\n']).toString('utf8')).toBe(
      '*3\r\n$4\r\nAUTH\r\n$2\r\nü\r\n$5\r\na b\r\n\r\n',
    );
  });

  it('decodes every reply type, and nothing until a reply is complete', () => {
    const reply = Buffer.from('*5\r\n+OK\r\n-WRONGPASS bad\r\n:42\r\n$-1\r\n*1\r\n$3\r\nabc\r\n');
    const decoded = decodeReply(reply, 0);
    expect(decoded?.end).toBe(reply.length);
    const [ok, error, number, nil, nested] = decoded!.value as unknown[];
    expect([ok, number, nil, nested]).toEqual(['OK', 42, null, ['abc']]);
    expect(error).toBeInstanceOf(RespError);
    expect((error as RespError).code).toBe('WRONGPASS');
    for (let cut = 0; cut < reply.length; cut += 1)
      expect(decodeReply(reply.subarray(0, cut), 0)).toBeUndefined();
  });

  it('refuses bytes that are not RESP, and lengths over the limit', () => {
    expect(() => decodeReply(Buffer.from('HTTP/1.1 400 Bad Request\r\n'), 0)).toThrow('not a Redis reply');
    expect(() => decodeReply(Buffer.from('$999999999\r\n'), 0)).toThrow('size limit');
    expect(() => decodeReply(Buffer.from(`${'*1\r\n'.repeat(20)}:1\r\n`), 0)).toThrow('nested too deep');
  });
});

describe('ACL LIST rules', () => {
  it('splits at spaces and keeps each selector whole', () => {
    expect(splitRules('on sanitize-payload ~a* (~b* resetchannels -@all +get) &c* -@all +set')).toEqual([
      'on',
      'sanitize-payload',
      '~a*',
      '(~b* resetchannels -@all +get)',
      '&c*',
      '-@all',
      '+set',
    ]);
  });
});

describe('Redis secret and settings', () => {
  const secret = (fields: Record<string, unknown>) =>
    JSON.stringify({
      engine: 'redis',
      host: 'cache.internal',
      username: 'app',
      password: 'Pw-123456',
      ...fields,
    });

  it('defaults the port to 6379 and keeps unknown fields', () => {
    const parsed = parseRedisSecret(secret({ team: 'x' }), 'redis-single-user');
    expect(parsed.port).toBe(6379);
    expect(parsed.fields.team).toBe('x');
    expect(parseRedisSecret(secret({ engine: 'valkey' }), 'redis-single-user').engine).toBe('valkey');
  });

  it.each([
    [{ engine: 'postgres' }, 'engine', 'accepted values are redis, valkey'],
    [{ username: 'app user' }, 'username', 'space or control character'],
    [{ username: 'u'.repeat(300) }, 'username', 'more than the 256 allowed'],
    [{ password: undefined }, 'password', 'is missing'],
    [{ port: 'six' }, 'port', 'not a port number'],
  ])('refuses %o naming the field', (fields, field, text) => {
    const error = (() => {
      try {
        parseRedisSecret(secret(fields), 'redis-single-user');
      } catch (thrown) {
        return thrown as Error;
      }
      throw new Error('expected an error');
    })();
    expect(error).toBeInstanceOf(SecretShapeError);
    expect(error.message).toContain(`"${field}"`);
    expect(error.message).toContain(text);
    expect(error.message).not.toContain('Pw-123456');
  });

  it("reads REDIS_TLS_MODE with the databases' rule, verify-full by default, and refuses other values naming the variable", () => {
    expect(readRedisSettings({}).tlsMode).toBe('verify-full');
    expect(readRedisSettings({ REDIS_TLS_MODE: ' Prefer ' }).tlsMode).toBe('prefer');
    expect(() => readRedisSettings({ REDIS_TLS_MODE: 'off' })).toThrow(ConfigurationError);
    expect(() => readRedisSettings({ REDIS_TLS_MODE: 'off' })).toThrow(/REDIS_TLS_MODE/);
    expect(() => readRedisSettings({ REDIS_CONNECT_TIMEOUT_MS: '5s' })).toThrow(/REDIS_CONNECT_TIMEOUT_MS/);
    expect(() => readRedisSettings({ REDIS_PREPROVISIONED_PAIR: 'maybe' })).toThrow(
      /REDIS_PREPROVISIONED_PAIR/,
    );
  });
});

describe('error replies', () => {
  it('blank every password an error reply quotes back', async () => {
    const secretPassword = 'Quoted-Back-Pw-9f3a';
    trackSecrets(secretPassword);
    // Accepts AUTH, then answers ACL SETUSER the way Redis answers a bad modifier: quoting it.
    const server = createServer((socket) => {
      let calls = 0;
      socket.on('data', () => {
        calls += 1;
        socket.write(
          calls === 1
            ? '+OK\r\n'
            : `-ERR Error in ACL SETUSER modifier '>${secretPassword}': Syntax error\r\n`,
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const ctx = directContext({});
      const settings = readRedisSettings({ REDIS_TLS_MODE: 'disable' });
      const session = await tryOpenRedis(
        { host: '127.0.0.1', port, ssl: undefined },
        { username: 'app', password: 'Login-Pw-77aa1', label: 'current' },
        settings,
        ctx,
      );
      expect(session).toBeDefined();
      const error = await rejection(addPassword(session!, 'app', secretPassword));
      session!.close();
      expect(error).toBeInstanceOf(TargetRefusedError);
      expect(error.message).toContain("modifier '>[REDACTED]'");
      expect(error.message).not.toContain(secretPassword);
    } finally {
      server.close();
    }
  });
});
