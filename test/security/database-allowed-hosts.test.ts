/**
 * Issue 12 §1: with DATABASE_ALLOWED_HOSTS set by the deployer, a secret naming any other host is
 * refused before any connection, with any credentials. The attacker's server accepts every login
 * and records what it receives; run through the built zips as deployed.
 */
import { describe, expect, it } from 'vitest';
import { startAttackerMysql, startAttackerPostgres } from './support/attacker-databases.ts';
import { credentialsIn, recordAttack } from './support/ledger.ts';
import { rotateAppSecretAt, trackedPassword, useDeployedRig } from './support/secrets.ts';

const HANDLERS = [
  { handler: 'postgres-single-user', engine: 'postgres', start: startAttackerPostgres },
  { handler: 'postgres-alternating-users', engine: 'postgres', start: startAttackerPostgres },
  { handler: 'mysql-single-user', engine: 'mysql', start: startAttackerMysql },
  { handler: 'mysql-alternating-users', engine: 'mysql', start: startAttackerMysql },
] as const;

const PLAINTEXT = { PG_TLS_MODE: 'disable', MYSQL_TLS_MODE: 'disable' };
const ALLOWED = 'db.internal.example.com,*.rds.amazonaws.com';

const rig = useDeployedRig(HANDLERS.map((entry) => entry.handler));

describe.each(HANDLERS)('$handler, as deployed', ({ handler, engine, start }) => {
  async function rotateAgainstAttacker(allowedHosts: string) {
    const attacker = await start({});
    const currentPassword = trackedPassword('current');
    const masterPassword = trackedPassword('master');
    try {
      // The master secret names the attacker too: only the deployer's list stands in the way.
      const { result, deployed } = await rotateAppSecretAt(rig, {
        handler,
        engine,
        at: attacker,
        master: { password: masterPassword, host: attacker.host, port: attacker.port },
        currentPassword,
        settings: { DATABASE_ALLOWED_HOSTS: allowedHosts, ...PLAINTEXT },
      });
      return {
        result,
        connections: attacker.connections(),
        leaked:
          credentialsIn(attacker.received, [currentPassword, masterPassword]).length + attacker.logins.length,
        output: deployed.output(),
        passwords: [currentPassword, masterPassword],
      };
    } finally {
      await attacker.close();
    }
  }

  it('refuses a secret naming an unlisted host before connecting with any credentials', async () => {
    const { result, connections, leaked, output, passwords } = await rotateAgainstAttacker(ALLOWED);
    recordAttack({
      attack: `${handler}: secret names a host DATABASE_ALLOWED_HOSTS does not list`,
      blocked: !result.ok && connections === 0,
      leaked,
    });
    expect(connections, 'connections opened to the unlisted host').toBe(0);
    expect(leaked).toBe(0);
    expect(result.ok).toBe(false);
    expect(result.failedStep).toBe('setSecret');
    expect(result.error).toContain('DATABASE_ALLOWED_HOSTS');
    expect(result.error).toContain('"127.0.0.1"');
    for (const value of passwords) {
      expect(output).not.toContain(value);
      expect(result.error).not.toContain(value);
    }
  });

  it('control: once the deployer lists the host, the same server is connected to', async () => {
    const { connections } = await rotateAgainstAttacker(`127.0.0.1,${ALLOWED}`);
    expect(connections).toBeGreaterThan(0);
  });
});
