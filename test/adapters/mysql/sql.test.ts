import { describe, expect, it } from 'vitest';
import { detectFlavour, type MysqlFlavour } from '../../../src/adapters/mysql/flavour.ts';
import {
  adminPasswordStatement,
  createUserStatement,
  discardOldPasswordStatement,
  mariaDbAuthPlugin,
  nativePasswordHash,
  quoteAccount,
  quoteIdentifier,
  requireClause,
  requirementsStatement,
  selfPasswordStatements,
  sessionTimeoutStatements,
  showCreateUserStatement,
  showGrantsStatement,
  stringLiteral,
} from '../../../src/adapters/mysql/sql.ts';

const MARIADB = detectFlavour({ version: '10.11.19-MariaDB-0+deb12u1', versionComment: 'Debian 12' });
const MYSQL57 = detectFlavour({ version: '5.7.44-log', versionComment: 'MySQL Community Server (GPL)' });
const MYSQL8 = detectFlavour({ version: '8.0.36', versionComment: 'MySQL Community Server - GPL' });
const MYSQL84 = detectFlavour({ version: '8.4.3', versionComment: 'MySQL Community Server - GPL' });
const DEFAULT_MODE = { noBackslashEscapes: false };
const NBE_MODE = { noBackslashEscapes: true };
const PASSWORD = "Pa$s'w\\rd-1";
const account = { user: "o'brien `x`", host: '10.0.%' };

describe('quoting', () => {
  it('quotes identifiers with backticks, doubling backticks inside', () => {
    expect(quoteIdentifier('app')).toBe('`app`');
    expect(quoteIdentifier('a`b')).toBe('`a``b`');
    expect(quoteIdentifier(`x'; DROP USER root; --`)).toBe("`x'; DROP USER root; --`");
    expect(() => quoteIdentifier('a\0b')).toThrow(TypeError);
  });

  it('quotes an account as `user`@`host`', () => {
    expect(quoteAccount(account)).toBe("`o'brien ``x```@`10.0.%`");
  });

  it('escapes string literals for the session sql_mode', () => {
    expect(stringLiteral(PASSWORD, DEFAULT_MODE)).toBe("'Pa$s''w\\\\rd-1'");
    expect(stringLiteral(PASSWORD, NBE_MODE)).toBe("'Pa$s''w\\rd-1'");
    expect(() => stringLiteral('a\0', DEFAULT_MODE)).toThrow(TypeError);
  });

  it('computes the mysql_native_password hash as PASSWORD() does', () => {
    // Known values of MySQL's PASSWORD() function.
    expect(nativePasswordHash('password')).toBe('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
    expect(nativePasswordHash('root')).toBe('*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B');
  });
});

describe('MariaDB statements', () => {
  it('changes its own password by native hash with SET PASSWORD, never with the plaintext', () => {
    const [statement, ...rest] = selfPasswordStatements(MARIADB, {
      password: PASSWORD,
      plugin: 'mysql_native_password',
      mode: DEFAULT_MODE,
    });
    expect(rest).toEqual([]);
    expect(statement).toEqual({
      label: 'change the password of the logged-in user',
      text: `SET PASSWORD = '${nativePasswordHash(PASSWORD)}'`,
      sensitive: true,
    });
    expect(statement!.text).not.toContain(PASSWORD);
  });

  it('uses PASSWORD() for accounts on another plugin, so the server hashes for that plugin', () => {
    const [statement] = selfPasswordStatements(MARIADB, {
      password: PASSWORD,
      plugin: 'ed25519',
      mode: DEFAULT_MODE,
    });
    expect(statement!.text).toBe("SET PASSWORD = PASSWORD('Pa$s''w\\\\rd-1')");
  });

  it('sets another account password by hash with ALTER USER, or PASSWORD() for other plugins', () => {
    expect(
      adminPasswordStatement(MARIADB, account, { password: PASSWORD, plugin: '', mode: DEFAULT_MODE }).text,
    ).toBe(
      `ALTER USER \`o'brien \`\`x\`\`\`@\`10.0.%\` IDENTIFIED BY PASSWORD '${nativePasswordHash(PASSWORD)}'`,
    );
    expect(
      adminPasswordStatement(MARIADB, account, { password: PASSWORD, plugin: 'multiple', mode: NBE_MODE })
        .text,
    ).toBe("SET PASSWORD FOR `o'brien ``x```@`10.0.%` = PASSWORD('Pa$s''w\\rd-1')");
  });

  it('creates a clone with IF NOT EXISTS and a hashed throw-away password', () => {
    const statement = createUserStatement(MARIADB, account, {
      password: 'throwaway-1234',
      plugin: 'mysql_native_password',
      mode: DEFAULT_MODE,
    });
    expect(statement.text).toBe(
      `CREATE USER IF NOT EXISTS \`o'brien \`\`x\`\`\`@\`10.0.%\` IDENTIFIED BY PASSWORD '${nativePasswordHash('throwaway-1234')}'`,
    );
    expect(statement.sensitive).toBe(true);
    expect(
      createUserStatement(MARIADB, account, { password: 'p', plugin: 'ed25519', mode: DEFAULT_MODE }).text,
    ).toBe("CREATE USER IF NOT EXISTS `o'brien ``x```@`10.0.%` IDENTIFIED VIA `ed25519` USING PASSWORD('p')");
  });

  it('bounds statements with max_statement_time and lock_wait_timeout', () => {
    expect(sessionTimeoutStatements(MARIADB, 15_000).map((s) => s.text)).toEqual([
      'SET SESSION lock_wait_timeout = 15',
      'SET SESSION max_statement_time = 15.000',
    ]);
  });

  it('reads the plugin from SHOW CREATE USER, ignoring keywords inside names and strings', () => {
    expect(mariaDbAuthPlugin("CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*0123'")).toBe(
      'mysql_native_password',
    );
    expect(mariaDbAuthPlugin('CREATE USER `app`@`%`')).toBe('mysql_native_password');
    expect(mariaDbAuthPlugin("CREATE USER `app`@`%` IDENTIFIED VIA ed25519 USING 'abc'")).toBe('ed25519');
    expect(
      mariaDbAuthPlugin(
        "CREATE USER `app`@`%` IDENTIFIED VIA mysql_native_password USING '*0123' OR unix_socket",
      ),
    ).toBe('multiple');
    expect(mariaDbAuthPlugin("CREATE USER `x OR y IDENTIFIED VIA z`@`%` IDENTIFIED BY PASSWORD '*01'")).toBe(
      'mysql_native_password',
    );
    expect(mariaDbAuthPlugin("CREATE USER `a'b`@`%` IDENTIFIED VIA ed25519 USING ' OR x' REQUIRE SSL")).toBe(
      'ed25519',
    );
  });
});

describe('MySQL 5.7 statements', () => {
  it('changes its own password with ALTER USER USER(), the form 5.7 allows without privileges', () => {
    expect(selfPasswordStatements(MYSQL57, { password: PASSWORD, plugin: '', mode: DEFAULT_MODE })).toEqual([
      {
        label: 'change the password of the logged-in user',
        text: "ALTER USER USER() IDENTIFIED BY 'Pa$s''w\\\\rd-1'",
        sensitive: true,
      },
    ]);
  });

  it('sets another account password by hash for native accounts, by plugin otherwise', () => {
    expect(
      adminPasswordStatement(MYSQL57, account, {
        password: PASSWORD,
        plugin: 'mysql_native_password',
        mode: DEFAULT_MODE,
      }).text,
    ).toBe(
      `ALTER USER \`o'brien \`\`x\`\`\`@\`10.0.%\` IDENTIFIED WITH mysql_native_password AS '${nativePasswordHash(PASSWORD)}'`,
    );
    expect(
      adminPasswordStatement(MYSQL57, account, {
        password: PASSWORD,
        plugin: 'sha256_password',
        mode: DEFAULT_MODE,
      }).text,
    ).toBe("ALTER USER `o'brien ``x```@`10.0.%` IDENTIFIED WITH `sha256_password` BY 'Pa$s''w\\\\rd-1'");
  });

  it('bounds statements with lock_wait_timeout and max_execution_time', () => {
    expect(sessionTimeoutStatements(MYSQL57, 2_500).map((s) => s.text)).toEqual([
      'SET SESSION lock_wait_timeout = 3',
      'SET SESSION max_execution_time = 2500',
    ]);
  });
});

describe('MySQL 8 statements (unit-tested only: no MySQL 8 server runs in these tests)', () => {
  it('changes its own password with ALTER USER CURRENT_USER(), with REPLACE when the current password is known', () => {
    expect(
      selfPasswordStatements(MYSQL8, {
        password: 'new-pw',
        plugin: '',
        mode: DEFAULT_MODE,
        replacing: "old'pw",
      }),
    ).toEqual([
      {
        label: 'change the password of the logged-in user',
        text: "ALTER USER CURRENT_USER() IDENTIFIED BY 'new-pw' REPLACE 'old''pw'",
        sensitive: true,
      },
    ]);
    expect(
      selfPasswordStatements(MYSQL8, { password: 'new-pw', plugin: '', mode: DEFAULT_MODE })[0]!.text,
    ).toBe("ALTER USER CURRENT_USER() IDENTIFIED BY 'new-pw'");
  });

  it('with dual passwords discards the old secondary, then retains the current one', () => {
    expect(
      selfPasswordStatements(MYSQL84, {
        password: 'new-pw',
        plugin: '',
        mode: DEFAULT_MODE,
        replacing: 'cur-pw',
        retainCurrent: true,
      }).map((s) => [s.text, s.sensitive]),
    ).toEqual([
      ['ALTER USER CURRENT_USER() DISCARD OLD PASSWORD', false],
      ["ALTER USER CURRENT_USER() IDENTIFIED BY 'new-pw' REPLACE 'cur-pw' RETAIN CURRENT PASSWORD", true],
    ]);
    expect(discardOldPasswordStatement().text).toBe('ALTER USER CURRENT_USER() DISCARD OLD PASSWORD');
  });

  it('sets another account password keeping its plugin: hash for native, BY for caching_sha2_password', () => {
    expect(
      adminPasswordStatement(
        MYSQL8,
        { user: 'app_clone', host: '%' },
        {
          password: 'pw-1',
          plugin: 'caching_sha2_password',
          mode: DEFAULT_MODE,
        },
      ).text,
    ).toBe("ALTER USER `app_clone`@`%` IDENTIFIED WITH `caching_sha2_password` BY 'pw-1'");
    expect(
      adminPasswordStatement(
        MYSQL8,
        { user: 'app_clone', host: '%' },
        {
          password: 'pw-1',
          plugin: 'mysql_native_password',
          mode: DEFAULT_MODE,
        },
      ).text,
    ).toBe(
      `ALTER USER \`app_clone\`@\`%\` IDENTIFIED WITH mysql_native_password AS '${nativePasswordHash('pw-1')}'`,
    );
  });

  it('creates a clone with the original plugin', () => {
    expect(
      createUserStatement(
        MYSQL8,
        { user: 'app_clone', host: '10.%' },
        {
          password: 'tmp',
          plugin: 'caching_sha2_password',
          mode: NBE_MODE,
        },
      ).text,
    ).toBe("CREATE USER IF NOT EXISTS `app_clone`@`10.%` IDENTIFIED WITH `caching_sha2_password` BY 'tmp'");
  });
});

describe('shared statements', () => {
  const none = { sslType: '', sslCipher: '', x509Issuer: '', x509Subject: '', limits: {} };

  it('renders each TLS requirement', () => {
    expect(requireClause(none, DEFAULT_MODE)).toBe('REQUIRE NONE');
    expect(requireClause({ ...none, sslType: 'ANY' }, DEFAULT_MODE)).toBe('REQUIRE SSL');
    expect(requireClause({ ...none, sslType: 'X509' }, DEFAULT_MODE)).toBe('REQUIRE X509');
    expect(
      requireClause(
        {
          ...none,
          sslType: 'SPECIFIED',
          x509Issuer: "/CN=It's CA",
          x509Subject: '/CN=app',
          sslCipher: 'AES',
        },
        DEFAULT_MODE,
      ),
    ).toBe("REQUIRE ISSUER '/CN=It''s CA' AND SUBJECT '/CN=app' AND CIPHER 'AES'");
    expect(() => requireClause({ ...none, sslType: 'bogus' }, DEFAULT_MODE)).toThrow(TypeError);
  });

  it('copies requirements and limits in one ALTER USER', () => {
    const statement = requirementsStatement(
      { user: 'app_clone', host: '%' },
      { ...none, sslType: 'ANY', limits: { MAX_USER_CONNECTIONS: 7, MAX_QUERIES_PER_HOUR: 0 } },
      DEFAULT_MODE,
    );
    expect(statement.text).toBe(
      'ALTER USER `app_clone`@`%` REQUIRE SSL WITH MAX_USER_CONNECTIONS 7 MAX_QUERIES_PER_HOUR 0',
    );
    expect(statement.sensitive).toBe(false);
    expect(() =>
      requirementsStatement({ user: 'a', host: '%' }, { ...none, limits: { 'X; DROP': 1 } }, DEFAULT_MODE),
    ).toThrow(TypeError);
  });

  it('reads grants and definitions with quoted accounts; SHOW CREATE USER is sensitive (it holds the hash)', () => {
    expect(showGrantsStatement(account).text).toBe("SHOW GRANTS FOR `o'brien ``x```@`10.0.%`");
    expect(showCreateUserStatement(undefined)).toMatchObject({
      text: 'SHOW CREATE USER CURRENT_USER()',
      sensitive: true,
    });
    expect(showCreateUserStatement(account).text).toBe("SHOW CREATE USER `o'brien ``x```@`10.0.%`");
  });

  it('marks every statement carrying a password as sensitive', () => {
    const flavours: MysqlFlavour[] = [MARIADB, MYSQL57, MYSQL8];
    for (const flavour of flavours) {
      for (const plugin of ['mysql_native_password', 'caching_sha2_password']) {
        const options = { password: 'Secret-Pw-1', plugin, mode: DEFAULT_MODE, replacing: 'Old-Pw-1' };
        for (const statement of [
          ...selfPasswordStatements(flavour, options),
          adminPasswordStatement(flavour, account, options),
          createUserStatement(flavour, account, options),
        ]) {
          const carries =
            statement.text.includes('Secret-Pw-1') ||
            statement.text.includes(nativePasswordHash('Secret-Pw-1'));
          if (carries) expect(statement.sensitive).toBe(true);
        }
      }
    }
  });
});
