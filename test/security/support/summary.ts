/**
 * vitest global setup: creates the run's security ledger directory before any worker starts and,
 * when the run ends, prints the suite's total line if any attack was recorded:
 *
 *   security: N attacks tried, N blocked, N credentials leaked
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AttackRecord, LEDGER_DIR_VARIABLE } from './ledger.ts';

export default function setup(): () => void {
  const directory = mkdtempSync(join(tmpdir(), 'secrets-rotator-security-'));
  process.env[LEDGER_DIR_VARIABLE] = directory;
  return () => {
    const records = readdirSync(directory)
      .filter((name) => name.endsWith('.json'))
      .map((name) => JSON.parse(readFileSync(join(directory, name), 'utf8')) as AttackRecord);
    rmSync(directory, { recursive: true, force: true });
    if (records.length === 0) return;
    const blocked = records.filter((record) => record.blocked).length;
    const leaked = records.reduce((sum, record) => sum + record.leaked, 0);
    for (const record of records.filter((entry) => !entry.blocked || entry.leaked > 0)) {
      console.info(`security: NOT BLOCKED ${record.attack} (${record.leaked} credentials leaked)`);
    }
    console.info(
      `security: ${records.length} attacks tried, ${blocked} blocked, ${leaked} credentials leaked`,
    );
  };
}
