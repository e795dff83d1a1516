import { describe, expect, it } from 'vitest';
import { alternatingPair } from '../../../src/adapters/postgres/roles.ts';
import {
  createCloneStatement,
  grantMembershipStatement,
  quoteIdentifier,
  resetRoleSettingsStatement,
  roleSettingStatement,
  setPasswordStatement,
  splitQuotedList,
  splitSettingEntry,
} from '../../../src/adapters/postgres/sql.ts';

describe('identifier quoting', () => {
  it('keeps names with quotes, semicolons, spaces and non-ASCII characters whole', () => {
    expect(quoteIdentifier('app')).toBe('"app"');
    expect(quoteIdentifier('a "b"; DROP ROLE x; --')).toBe('"a ""b""; DROP ROLE x; --"');
    expect(quoteIdentifier('Ünïcødé user')).toBe('"Ünïcødé user"');
    expect(() => quoteIdentifier('nul\0')).toThrow(/NUL/);
  });
});

describe('statements', () => {
  it('sets a password only from a SCRAM verifier', () => {
    const verifier = 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy';
    expect(setPasswordStatement("o'neil", verifier)).toBe(`ALTER ROLE "o'neil" PASSWORD '${verifier}'`);
    expect(() => setPasswordStatement('app', 'plain-password')).toThrow(/never a password/);
  });

  it('creates the clone inside the original and grants SET from PostgreSQL 16', () => {
    expect(createCloneStatement('a"b_clone', 'a"b')).toBe(
      'CREATE ROLE "a""b_clone" WITH LOGIN INHERIT IN ROLE "a""b"',
    );
    expect(grantMembershipStatement('app', 'app_clone', 180004)).toBe(
      'GRANT "app" TO "app_clone" WITH INHERIT TRUE, SET TRUE',
    );
    expect(grantMembershipStatement('app', 'app_clone', 150020)).toBe('GRANT "app" TO "app_clone"');
  });

  it('writes stored role settings back in a form that stores the same text', () => {
    expect(roleSettingStatement('c', undefined, 'search_path="$user", public, "My Schema"')).toBe(
      `ALTER ROLE "c" SET "search_path" = '$user', 'public', 'My Schema'`,
    );
    expect(roleSettingStatement('c', 'shop db', 'statement_timeout=5min')).toBe(
      `ALTER ROLE "c" IN DATABASE "shop db" SET "statement_timeout" = '5min'`,
    );
    expect(roleSettingStatement('c', undefined, "myapp.tenant=it's")).toBe(
      `ALTER ROLE "c" SET "myapp"."tenant" = 'it''s'`,
    );
    expect(roleSettingStatement('c', undefined, 'DateStyle=ISO, MDY')).toBe(
      `ALTER ROLE "c" SET "DateStyle" = 'ISO, MDY'`,
    );
    expect(resetRoleSettingsStatement('c', undefined)).toBe('ALTER ROLE "c" RESET ALL');
  });

  it('splits stored lists of quoted identifiers', () => {
    expect(splitQuotedList('"$user", public')).toEqual(['$user', 'public']);
    expect(splitQuotedList('"a ""quoted"", name",b')).toEqual(['a "quoted", name', 'b']);
    expect(splitQuotedList('""')).toEqual(['']);
    expect(splitQuotedList('')).toEqual([]);
    expect(() => splitQuotedList('"open')).toThrow(/unterminated/);
    expect(splitSettingEntry('a=b=c')).toEqual({ name: 'a', value: 'b=c' });
  });
});

describe('alternatingPair', () => {
  it('toggles the _clone suffix', () => {
    expect(alternatingPair('app')).toEqual({ original: 'app', clone: 'app_clone', other: 'app_clone' });
    expect(alternatingPair('app_clone')).toEqual({ original: 'app', clone: 'app_clone', other: 'app' });
    expect(alternatingPair('_clone').other).toBe('_clone_clone');
  });
});
