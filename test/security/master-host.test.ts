/**
 * Issue 12 §1: someone who may write the rotated secret, but not read the master secret, points
 * "host" at a server they run. The attacker's server accepts the current login (so the old
 * "current credentials log in" guard passes) and refuses the pending one (so the rotator does not
 * stop at "pending already works"): the master credentials would come next. Run through the built
 * zips as deployed; the master password must never reach the attacker.
 */
import { describe, expect, it } from 'vitest';
import {
  type AttackerDatabase,
  type AttackerOptions,
  startAttackerMysql,
  startAttackerPostgres,
} from './support/attacker-databases.ts';
import { credentialsIn, recordAttack } from './support/ledger.ts';
import { rotateAppSecretAt, trackedPassword, useDeployedRig } from './support/secrets.ts';

const ENGINES = [
  {
    handler: 'postgres-alternating-users',
    engine: 'postgres',
    defaultPort: 5432,
    start: (options: AttackerOptions) => startAttackerPostgres(options),
  },
  {
    handler: 'mysql-alternating-users',
    engine: 'mysql',
    defaultPort: 3306,
    start: (options: AttackerOptions) => startAttackerMysql(options),
  },
] as const;

// Plaintext on loopback, explicitly: the attack is about where the password goes, not TLS.
const PLAINTEXT = { PG_TLS_MODE: 'disable', MYSQL_TLS_MODE: 'disable' };

const rig = useDeployedRig(ENGINES.map((entry) => entry.handler));

describe.each(ENGINES)('$handler, as deployed', ({ handler, engine, defaultPort, start }) => {
  async function attack(options: {
    readonly name: string;
    readonly master: (attacker: AttackerDatabase) => Record<string, unknown>;
    readonly expectError: readonly string[];
    readonly settings?: Readonly<Record<string, string>>;
  }) {
    const attacker = await start({ refuseUsers: ['app_clone'] });
    const masterPassword = trackedPassword('master');
    const currentPassword = trackedPassword('current');
    try {
      const { result, deployed } = await rotateAppSecretAt(rig, {
        handler,
        engine,
        at: attacker,
        master: { password: masterPassword, ...options.master(attacker) },
        currentPassword,
        settings: { ...PLAINTEXT, ...options.settings },
      });
      // A MySQL login carries a scrambled password, crackable offline: any master login attempt
      // counts as a leak, as does the password in any form.
      const masterLogins = attacker.logins.filter((login) => login === 'admin').length;
      const leaked = [
        ...credentialsIn(attacker.received, [masterPassword]),
        ...(masterLogins > 0 ? ['login'] : []),
      ];
      recordAttack({
        attack: `${handler}: ${options.name}`,
        blocked: !result.ok && leaked.length === 0,
        leaked: leaked.length,
      });

      expect(leaked, 'the master password reached the attacker').toEqual([]);
      expect(result.ok).toBe(false);
      expect(result.failedStep).toBe('setSecret');
      for (const part of options.expectError) expect(result.error).toContain(part);
      // The guard ran against the attacker and passed: only the master rule stood in the way.
      expect(attacker.logins).toContain('app');
      expect(deployed.output()).not.toContain(masterPassword);
      expect(result.error).not.toContain(masterPassword);
    } finally {
      await attacker.close();
    }
  }

  it("refuses to send the master password to the attacker's host, naming both servers", async () => {
    await attack({
      name: "rotated secret names the attacker's host",
      master: () => ({ host: 'db.internal.example.com', port: defaultPort }),
      expectError: ['db.internal.example.com', '127.0.0.1:', 'were not sent'],
    });
  });

  it("refuses the master's own host on another port (the attacker listens there)", async () => {
    await attack({
      name: "rotated secret names another port of the master's host",
      master: () => ({ host: '127.0.0.1', port: 1 }),
      expectError: ['127.0.0.1:1', 'were not sent'],
    });
  });

  it('refuses an RDS-managed master secret without tags (only username and password)', async () => {
    await attack({
      name: 'master secret without host or RDS tag',
      master: () => ({}),
      expectError: ['masterarn', 'aws:rds:primaryDBInstanceArn', 'store "host" and "port"'],
    });
  });

  it("refuses a master named by an RDS host when the secret points at a host that is not RDS's", async () => {
    await attack({
      name: 'master on an RDS endpoint, rotated secret elsewhere',
      master: () => ({ host: 'orders.c9akciq32.eu-west-1.rds.amazonaws.com', port: defaultPort }),
      // RDS cannot be asked here (a closed port): refused all the same, before the master is used.
      expectError: ['were not'],
      settings: { AWS_ENDPOINT_URL_RDS: 'http://127.0.0.1:9' },
    });
  });
});
