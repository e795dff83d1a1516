import { describe, expect, it } from 'vitest';
import { parseHostAllowlist, readHostAllowlist } from '../../src/core/allowed-hosts.js';
import { ConfigurationError } from '../../src/core/errors.js';

describe('host allowlists', () => {
  it('is absent when the variable is unset or blank', () => {
    expect(readHostAllowlist({}, 'DATABASE_ALLOWED_HOSTS')).toBeUndefined();
    expect(parseHostAllowlist('DATABASE_ALLOWED_HOSTS', ' , ')).toBeUndefined();
  });

  it('matches exact names case-insensitively and ignores a trailing dot', () => {
    const hosts = parseHostAllowlist('X', 'DB.Example.com, 10.0.0.5');
    expect(hosts?.allows('db.example.com.')).toBe(true);
    expect(hosts?.allows('10.0.0.5')).toBe(true);
    expect(hosts?.allows('other.example.com')).toBe(false);
    expect(hosts?.allows('db.example.com.evil.test')).toBe(false);
  });

  it('lets *.suffix match names below the suffix, never the suffix or a look-alike', () => {
    const hosts = parseHostAllowlist('X', '*.rds.amazonaws.com');
    expect(hosts?.allows('a.b.eu-west-1.rds.amazonaws.com')).toBe(true);
    expect(hosts?.allows('rds.amazonaws.com')).toBe(false);
    expect(hosts?.allows('evilrds.amazonaws.com')).toBe(false);
    expect(hosts?.listsExactly('a.rds.amazonaws.com')).toBe(false);
  });

  it('never matches an IP address against a pattern', () => {
    expect(parseHostAllowlist('X', '*.example.com')?.allows('127.0.0.1')).toBe(false);
  });

  it.each(['*.com', '*', 'http://db.example.com', 'db example', '*.-bad-.com'])(
    'refuses the entry %j naming the variable',
    (entry) => {
      expect(() => parseHostAllowlist('DATABASE_ALLOWED_HOSTS', entry)).toThrow(ConfigurationError);
      expect(() => parseHostAllowlist('DATABASE_ALLOWED_HOSTS', entry)).toThrow(/^DATABASE_ALLOWED_HOSTS /);
    },
  );
});
