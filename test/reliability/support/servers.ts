/**
 * The servers every reliability suite runs against (private PostgreSQL, MariaDB, Redis and sshd),
 * and the case tally each suite reports to the summary line.
 */
import { leaksFoundSoFar, trackSecrets } from '../../support/leak-scan.ts';
import { type MariaDbInstance, startMariaDb } from '../../support/mariadb.ts';
import { type PostgresInstance, startPostgres } from '../../support/postgres.ts';
import { type RedisInstance, startRedis } from '../../support/redis.ts';
import { type SshdInstance, startSshd } from '../../support/sshd.ts';
import { recordSuiteResult, type SuiteName } from './summary.ts';

export interface ReliabilityServers {
  readonly postgres: PostgresInstance;
  readonly mariadb: MariaDbInstance;
  readonly redis: RedisInstance;
  readonly sshd: SshdInstance;
}

/** Starts the four servers together; their admin passwords join the leak scan. */
export async function startServers(): Promise<ReliabilityServers> {
  const [postgres, mariadb, redis, sshd] = await Promise.all([
    startPostgres(),
    startMariaDb(),
    startRedis(),
    startSshd(),
  ]);
  trackSecrets(postgres.superuser.password, mariadb.root.password, redis.admin.password);
  return { postgres, mariadb, redis, sshd };
}

/** Stops whichever servers started (a failed start leaves some undefined). */
export async function stopServers(servers: Partial<ReliabilityServers>): Promise<void> {
  await Promise.allSettled(Object.values(servers).map((server) => server?.stop()));
}

/** Counts a suite's cases: one that throws stays unclean. */
export class CaseTally {
  cases = 0;
  clean = 0;

  readonly #suite: SuiteName;

  constructor(suite: SuiteName) {
    this.#suite = suite;
  }

  async count<T>(check: () => Promise<T>): Promise<T> {
    this.cases += 1;
    const result = await check();
    this.clean += 1;
    return result;
  }

  record(): void {
    recordSuiteResult(this.#suite, { cases: this.cases, converged: this.clean, leaks: leaksFoundSoFar() });
  }
}
