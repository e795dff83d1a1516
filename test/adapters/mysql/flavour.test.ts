import { describe, expect, it } from 'vitest';
import { detectFlavour, userNameLimitForEngine } from '../../../src/adapters/mysql/flavour.ts';

describe('detectFlavour', () => {
  it.each([
    ['10.11.19-MariaDB-0+deb12u1-log', 'Debian 12', 'mariadb', 'MariaDB 10.11.19', 80],
    ['11.4.2-MariaDB', 'MariaDB Server', 'mariadb', 'MariaDB 11.4.2', 80],
    ['10.6.16-MariaDB-log', 'Source distribution', 'mariadb', 'MariaDB 10.6.16', 80],
    ['5.5.5-10.5.22-MariaDB', 'mariadb.org binary distribution', 'mariadb', 'MariaDB 10.5.22', 80],
    ['5.7.44-log', 'MySQL Community Server (GPL)', 'mysql57', 'MySQL 5.7.44', 32],
    ['5.7.5', 'MySQL Community Server (GPL)', 'mysql57', 'MySQL 5.7.5', 16],
    ['5.7.12', 'Source distribution', 'mysql57', 'MySQL 5.7.12', 32],
    ['8.0.36', 'MySQL Community Server - GPL', 'mysql8', 'MySQL 8.0.36', 32],
    ['8.4.3', 'MySQL Community Server - GPL', 'mysql8', 'MySQL 8.4.3', 32],
    ['9.1.0', 'MySQL Community Server - GPL', 'mysql8', 'MySQL 9.1.0', 32],
    ['8.0.mysql_aurora.3.05.2', 'Source distribution', 'mysql8', 'Aurora MySQL 8.0.23', 32],
  ])('reads %s (%s) as %s', (version, versionComment, kind, label, limit) => {
    const flavour = detectFlavour({ version, versionComment });
    expect(flavour.kind).toBe(kind);
    expect(flavour.label).toBe(label);
    expect(flavour.maxUserNameLength).toBe(limit);
  });

  it('knows which servers have dual passwords (MySQL 8.0.14 and later) and roles', () => {
    expect(detectFlavour({ version: '8.0.13' }).dualPasswords).toBe(false);
    expect(detectFlavour({ version: '8.0.14' }).dualPasswords).toBe(true);
    expect(detectFlavour({ version: '8.4.0' }).dualPasswords).toBe(true);
    expect(detectFlavour({ version: '5.7.44' }).dualPasswords).toBe(false);
    expect(detectFlavour({ version: '10.11.6-MariaDB' }).dualPasswords).toBe(false);
    expect(detectFlavour({ version: '5.7.44' }).roles).toBe(false);
    expect(detectFlavour({ version: '8.0.36' }).roles).toBe(true);
    expect(detectFlavour({ version: '10.11.6-MariaDB' }).roles).toBe(true);
    expect(detectFlavour({ version: '8.0.mysql_aurora.3.05.2' }).aurora).toBe(true);
  });

  it('refuses servers older than MySQL 5.7 or MariaDB 10.2, and versions it cannot read', () => {
    expect(() => detectFlavour({ version: '5.6.51' })).toThrow(/needs MySQL 5.7 or later/);
    expect(() => detectFlavour({ version: '10.1.48-MariaDB' })).toThrow(/needs MariaDB 10.2 or later/);
    expect(() => detectFlavour({ version: 'banana' })).toThrow(/cannot read/);
  });
});

describe('userNameLimitForEngine', () => {
  it('gives MariaDB 80 characters and MySQL 32', () => {
    expect(userNameLimitForEngine('mariadb')).toBe(80);
    expect(userNameLimitForEngine('mysql')).toBe(32);
    expect(userNameLimitForEngine('aurora-mysql')).toBe(32);
  });
});
