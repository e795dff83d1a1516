import { describe, expect, it } from 'vitest';
import { detectFlavour } from '../../../src/adapters/mysql/flavour.ts';
import { GrantParseError, parseGrants, planGrantSync } from '../../../src/adapters/mysql/grants.ts';
import { tokenize } from '../../../src/adapters/mysql/tokens.ts';

const MARIADB = detectFlavour({ version: '10.11.19-MariaDB' });
const MYSQL57 = detectFlavour({ version: '5.7.44' });
const MYSQL8 = detectFlavour({ version: '8.0.36' });
const MODE = { noBackslashEscapes: false };
const app = { user: 'app', host: '%' };
const clone = { user: 'app_clone', host: '%' };

const texts = (statements: ReadonlyArray<{ text: string }>) => statements.map((statement) => statement.text);

describe('tokenize', () => {
  it('keeps quoted names whole, whatever they contain', () => {
    expect(tokenize("GRANT SELECT ON `d; x`.* TO 'a''b'@'%' -- x").map((t) => [t.type, t.value])).toEqual([
      ['word', 'GRANT'],
      ['word', 'SELECT'],
      ['word', 'ON'],
      ['ident', 'd; x'],
      ['punct', '.'],
      ['punct', '*'],
      ['word', 'TO'],
      ['string', "a'b"],
      ['punct', '@'],
      ['string', '%'],
      ['word', '--'],
      ['word', 'x'],
    ]);
    expect(tokenize('`a``b` "c\\"d"').map((t) => t.value)).toEqual(['a`b', 'c"d']);
  });

  it('refuses unterminated quotes without echoing the text', () => {
    expect(() => tokenize("GRANT USAGE ON *.* TO `app IDENTIFIED BY PASSWORD '*ABC")).toThrow(
      /unterminated identifier at offset 22/,
    );
  });
});

describe('parseGrants', () => {
  it('reads MariaDB 10.11 SHOW GRANTS output', () => {
    const grants = parseGrants(
      [
        "GRANT `r2'x` TO `app`@`%` WITH ADMIN OPTION",
        'GRANT `r1` TO `app`@`%`',
        "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*5C5049D3093E5193A5CA36DC6557116DAEECC1BE' REQUIRE X509 WITH MAX_USER_CONNECTIONS 5",
        'GRANT SELECT, INSERT ON `d1`.* TO `app`@`%` WITH GRANT OPTION',
        'GRANT SELECT (`a`), UPDATE (`a`, `b`) ON `d1`.`t` TO `app`@`%`',
        'GRANT EXECUTE ON PROCEDURE `d1`.`p` TO `app`@`%`',
        "GRANT PROXY ON ''@'%' TO 'app'@'%' WITH GRANT OPTION",
        'SET DEFAULT ROLE `r1` FOR `app`@`%`',
      ],
      app,
      MODE,
    );
    expect([...grants.objects.keys()]).toEqual(['*.*', '`d1`.*', '`d1`.`t`', 'PROCEDURE `d1`.`p`', "''@'%'"]);
    expect(grants.objects.get('*.*')).toMatchObject({ grantOption: false });
    expect(grants.objects.get('*.*')!.privileges.size).toBe(0);
    expect([...grants.objects.get('`d1`.*')!.privileges.keys()]).toEqual(['SELECT', 'INSERT']);
    expect(grants.objects.get('`d1`.*')!.grantOption).toBe(true);
    expect([...grants.objects.get('`d1`.`t`')!.privileges.keys()]).toEqual([
      'SELECT (`a`)',
      'UPDATE (`a`)',
      'UPDATE (`b`)',
    ]);
    expect(grants.objects.get("''@'%'")).toMatchObject({ grantOption: true });
    expect([...grants.roles.entries()]).toEqual([
      ["`r2'x`", { admin: true }],
      ['`r1`', { admin: false }],
    ]);
    expect(grants.defaultRoles).toEqual(['`r1`']);
  });

  it('reads MySQL 5.7 output, with single-quoted names and ALL PRIVILEGES', () => {
    const grants = parseGrants(
      [
        "GRANT USAGE ON *.* TO 'app'@'%'",
        "GRANT ALL PRIVILEGES ON `shop`.* TO 'app'@'%' WITH GRANT OPTION",
        "GRANT SELECT, LOCK TABLES, CREATE TEMPORARY TABLES ON `reports`.* TO 'app'@'%'",
      ],
      app,
      MODE,
    );
    expect([...grants.objects.get('`shop`.*')!.privileges.keys()]).toEqual(['ALL PRIVILEGES']);
    expect([...grants.objects.get('`reports`.*')!.privileges.keys()]).toEqual([
      'SELECT',
      'LOCK TABLES',
      'CREATE TEMPORARY TABLES',
    ]);
  });

  it('reads MySQL 8 output: dynamic privileges, role accounts, partial revokes', () => {
    const grants = parseGrants(
      [
        'GRANT SELECT, INSERT ON *.* TO `app`@`%`',
        'GRANT BACKUP_ADMIN,XA_RECOVER_ADMIN ON *.* TO `app`@`%` WITH GRANT OPTION',
        'REVOKE INSERT ON `mysql`.* FROM `app`@`%`',
        'GRANT `reader`@`%`,`writer`@`10.%` TO `app`@`%` WITH ADMIN OPTION',
      ],
      app,
      MODE,
    );
    expect([...grants.objects.get('*.*')!.privileges.keys()]).toEqual([
      'SELECT',
      'INSERT',
      'BACKUP_ADMIN',
      'XA_RECOVER_ADMIN',
    ]);
    expect(grants.objects.get('*.*')!.grantOption).toBe(true);
    expect([...grants.restrictions.get('`mysql`.*')!.privileges.keys()]).toEqual(['INSERT']);
    expect([...grants.roles.keys()]).toEqual(['`reader`@`%`', '`writer`@`10.%`']);
  });

  it('handles names holding quotes, semicolons, spaces, keywords and non-ASCII characters', () => {
    const odd = { user: "o'brien `x` TO y; --", host: '10.0.%' };
    const grants = parseGrants(
      [
        "GRANT USAGE ON *.* TO `o'brien ``x`` TO y; --`@`10.0.%`",
        "GRANT SELECT ON `shop ON x`.`ünï TO` TO `o'brien ``x`` TO y; --`@`10.0.%`",
      ],
      odd,
      MODE,
    );
    expect([...grants.objects.keys()]).toEqual(['*.*', '`shop ON x`.`ünï TO`']);
  });

  it('refuses a line about another account, naming the line but not quoting it', () => {
    let error: unknown;
    try {
      parseGrants(["GRANT USAGE ON *.* TO `app2`@`%` IDENTIFIED BY PASSWORD '*SECRETHASH'"], app, MODE);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GrantParseError);
    expect((error as Error).message).toBe(
      'line 1 of SHOW GRANTS for app: the line names another account than app',
    );
  });

  it.each([
    ['GRANT', 'expected a privilege or role'],
    ['GRANT SELECT ON `d`.* TO', 'expected the grantee'],
    ['GRANT SELECT ON `d`.* TO `app`', 'expected "@" in the grantee'],
    ['GRANT SELECT (`a` ON `d`.`t` TO `app`@`%`', 'expected "," or ")" in a column list'],
    ['GRANT sel$ect ON `d`.* TO `app`@`%`', 'expected a privilege name'],
    ['CREATE USER `app`@`%`', 'expected GRANT, REVOKE or SET DEFAULT ROLE'],
  ])('refuses %s', (line, words) => {
    expect(() => parseGrants([line], app, MODE)).toThrow(words);
  });
});

describe('planGrantSync', () => {
  const plan = (
    flavour: typeof MARIADB,
    original: string[],
    held: string[],
    defaults?: { original: string[]; clone: string[] },
  ) =>
    texts(
      planGrantSync(
        flavour,
        parseGrants(original, app, MODE),
        parseGrants(held, clone, MODE),
        clone,
        defaults,
      ),
    );
  const cloneLine = (line: string) => line.replaceAll('`app`@`%`', '`app_clone`@`%`');

  it('copies everything to a new clone, grant and admin options included', () => {
    const original = [
      "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*5C50'",
      'GRANT SELECT, INSERT ON `shop`.* TO `app`@`%` WITH GRANT OPTION',
      'GRANT SELECT (`a`, `b`) ON `shop`.`t` TO `app`@`%`',
      'GRANT `reporting` TO `app`@`%` WITH ADMIN OPTION',
      'SET DEFAULT ROLE `reporting` FOR `app`@`%`',
    ];
    expect(
      plan(MARIADB, original, ["GRANT USAGE ON *.* TO `app_clone`@`%` IDENTIFIED BY PASSWORD '*0000'"]),
    ).toEqual([
      'GRANT SELECT, INSERT ON `shop`.* TO `app_clone`@`%` WITH GRANT OPTION',
      'GRANT SELECT (`a`, `b`) ON `shop`.`t` TO `app_clone`@`%`',
      'GRANT `reporting` TO `app_clone`@`%` WITH ADMIN OPTION',
      'SET DEFAULT ROLE `reporting` FOR `app_clone`@`%`',
    ]);
  });

  it('plans nothing when the clone already matches (the clone may be in use)', () => {
    const original = [
      'GRANT USAGE ON *.* TO `app`@`%`',
      'GRANT ALL PRIVILEGES ON `shop`.* TO `app`@`%` WITH GRANT OPTION',
      'GRANT `r1` TO `app`@`%`',
      'SET DEFAULT ROLE `r1` FOR `app`@`%`',
    ];
    expect(plan(MARIADB, original, original.map(cloneLine))).toEqual([]);
  });

  it('revokes exactly what the original lost, before granting what it gained', () => {
    const held = [
      'GRANT USAGE ON *.* TO `app_clone`@`%`',
      'GRANT SELECT, INSERT, DELETE ON `shop`.* TO `app_clone`@`%` WITH GRANT OPTION',
      'GRANT SELECT ON `audit`.* TO `app_clone`@`%`',
      'GRANT SELECT (`a`), UPDATE (`note`) ON `audit`.`events` TO `app_clone`@`%`',
      'GRANT `r1` TO `app_clone`@`%`',
      'GRANT `r2` TO `app_clone`@`%` WITH ADMIN OPTION',
      'SET DEFAULT ROLE `r1` FOR `app_clone`@`%`',
    ];
    const original = [
      'GRANT USAGE ON *.* TO `app`@`%`',
      'GRANT SELECT, INSERT, UPDATE ON `shop`.* TO `app`@`%`',
      'GRANT SELECT (`a`) ON `audit`.`events` TO `app`@`%`',
      'GRANT `r2` TO `app`@`%`',
    ];
    expect(plan(MARIADB, original, held)).toEqual([
      'REVOKE DELETE, GRANT OPTION ON `shop`.* FROM `app_clone`@`%`',
      'REVOKE SELECT ON `audit`.* FROM `app_clone`@`%`',
      'REVOKE UPDATE (`note`) ON `audit`.`events` FROM `app_clone`@`%`',
      'REVOKE `r1` FROM `app_clone`@`%`',
      'REVOKE ADMIN OPTION FOR `r2` FROM `app_clone`@`%`',
      'GRANT UPDATE ON `shop`.* TO `app_clone`@`%`',
      'SET DEFAULT ROLE NONE FOR `app_clone`@`%`',
    ]);
  });

  it('replaces ALL PRIVILEGES by a narrower list, and keeps narrower ones when the original has ALL', () => {
    expect(
      plan(
        MYSQL57,
        ["GRANT SELECT ON `shop`.* TO 'app'@'%'"],
        ["GRANT ALL PRIVILEGES ON `shop`.* TO 'app_clone'@'%'"],
      ),
    ).toEqual([
      'REVOKE ALL PRIVILEGES ON `shop`.* FROM `app_clone`@`%`',
      'GRANT SELECT ON `shop`.* TO `app_clone`@`%`',
    ]);
    expect(
      plan(
        MYSQL57,
        ["GRANT ALL PRIVILEGES ON `shop`.* TO 'app'@'%'"],
        ["GRANT SELECT ON `shop`.* TO 'app_clone'@'%'"],
      ),
    ).toEqual(['GRANT ALL PRIVILEGES ON `shop`.* TO `app_clone`@`%`']);
  });

  it('adds a grant option alone with USAGE', () => {
    expect(
      plan(
        MARIADB,
        ['GRANT SELECT ON `shop`.* TO `app`@`%` WITH GRANT OPTION'],
        ['GRANT SELECT ON `shop`.* TO `app_clone`@`%`'],
      ),
    ).toEqual(['GRANT USAGE ON `shop`.* TO `app_clone`@`%` WITH GRANT OPTION']);
  });

  it('MySQL 8: syncs partial revokes, role accounts and default roles from mysql.default_roles', () => {
    const original = [
      'GRANT SELECT, INSERT ON *.* TO `app`@`%`',
      'REVOKE INSERT ON `mysql`.* FROM `app`@`%`',
      'GRANT `reader`@`%` TO `app`@`%`',
    ];
    const held = [
      'GRANT SELECT, INSERT ON *.* TO `app_clone`@`%`',
      'REVOKE INSERT ON `sys`.* FROM `app_clone`@`%`',
      'GRANT `reader`@`%`,`writer`@`%` TO `app_clone`@`%` WITH ADMIN OPTION',
    ];
    expect(
      plan(MYSQL8, original, held, { original: ['`reader`@`%`'], clone: ['`reader`@`%`', '`writer`@`%`'] }),
    ).toEqual([
      // MySQL 8 has no REVOKE ADMIN OPTION FOR: the role is revoked and granted again.
      'REVOKE `reader`@`%` FROM `app_clone`@`%`',
      'REVOKE `writer`@`%` FROM `app_clone`@`%`',
      'GRANT INSERT ON `sys`.* TO `app_clone`@`%`',
      'REVOKE INSERT ON `mysql`.* FROM `app_clone`@`%`',
      'GRANT `reader`@`%` TO `app_clone`@`%`',
      'SET DEFAULT ROLE `reader`@`%` TO `app_clone`@`%`',
    ]);
  });

  it('MySQL 8: sets several default roles, or none', () => {
    expect(plan(MYSQL8, [], [], { original: ['`b`@`%`', '`a`@`%`'], clone: [] })).toEqual([
      'SET DEFAULT ROLE `a`@`%`, `b`@`%` TO `app_clone`@`%`',
    ]);
    expect(plan(MYSQL8, [], [], { original: [], clone: ['`a`@`%`'] })).toEqual([
      'SET DEFAULT ROLE NONE TO `app_clone`@`%`',
    ]);
  });

  it('re-quotes every name it emits, so a hostile object name stays a name', () => {
    const original = ["GRANT SELECT ON `x``; DROP USER root; --`.* TO 'app'@'%'"];
    expect(plan(MARIADB, original, [])).toEqual([
      'GRANT SELECT ON `x``; DROP USER root; --`.* TO `app_clone`@`%`',
    ]);
  });
});
