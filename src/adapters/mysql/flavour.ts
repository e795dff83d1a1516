import { TargetRefusedError } from '../../core/errors.ts';

/** MySQL 8 includes 8.4, 9.x and Aurora MySQL 3. */
type MysqlFlavourKind = 'mariadb' | 'mysql57' | 'mysql8';

export interface MysqlFlavour {
  readonly kind: MysqlFlavourKind;
  readonly label: string;
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly aurora: boolean;
  readonly maxUserNameLength: number;
  readonly dualPasswords: boolean;
  readonly roles: boolean;
}

/** The first with ALTER USER and SHOW CREATE USER. */
const MIN_MARIADB = [10, 2] as const;

const atLeast = (major: number, minor: number, [minMajor, minMinor]: readonly [number, number]) =>
  major > minMajor || (major === minMajor && minor >= minMinor);

export function detectFlavour(server: {
  version: string;
  versionComment?: string | undefined;
}): MysqlFlavour {
  // Old MariaDB clients saw "5.5.5-" before the real version (a replication compatibility prefix).
  const version = server.version.trim().replace(/^5\.5\.5-(?=\d+\.\d+.*mariadb)/i, '');
  const comment = server.versionComment ?? '';
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  if (!match) {
    throw new TargetRefusedError(
      'rejected',
      `the server reports version "${version.slice(0, 60)}", which this adapter cannot read; it rotates MySQL 5.7 or later and MariaDB 10.2 or later`,
    );
  }
  const major = Number(match[1]);
  const minor = Number(match[2]);
  const aurora = /aurora/i.test(version);
  // Aurora MySQL 3 reports "8.0.mysql_aurora.3.x": its MySQL base is at least 8.0.23.
  const patch = match[3] !== undefined ? Number(match[3]) : aurora && major === 8 ? 23 : 0;
  const numbers = `${major}.${minor}.${patch}`;

  if (/mariadb/i.test(`${version} ${comment}`)) {
    if (!atLeast(major, minor, MIN_MARIADB)) {
      throw new TargetRefusedError(
        'rejected',
        `the server is MariaDB ${numbers}; this adapter needs MariaDB ${MIN_MARIADB.join('.')} or later (ALTER USER, SHOW CREATE USER)`,
      );
    }
    return {
      kind: 'mariadb',
      label: `MariaDB ${numbers}`,
      major,
      minor,
      patch,
      aurora: false,
      maxUserNameLength: 80,
      dualPasswords: false,
      roles: true,
    };
  }

  const label = `${aurora ? 'Aurora MySQL' : 'MySQL'} ${numbers}`;
  if (!atLeast(major, minor, [5, 7])) {
    throw new TargetRefusedError(
      'rejected',
      `the server is ${label}; this adapter needs MySQL 5.7 or later (ALTER USER)`,
    );
  }
  if (major === 5) {
    return {
      kind: 'mysql57',
      label,
      major,
      minor,
      patch,
      aurora,
      // User names grew from 16 to 32 characters in 5.7.8.
      maxUserNameLength: patch >= 8 ? 32 : 16,
      dualPasswords: false,
      roles: false,
    };
  }
  return {
    kind: 'mysql8',
    label,
    major,
    minor,
    patch,
    aurora,
    maxUserNameLength: 32,
    dualPasswords: major > 8 || minor > 0 || patch >= 14,
    roles: true,
  };
}

export function userNameLimitForEngine(engine: string): number {
  return engine === 'mariadb' ? 80 : 32;
}
