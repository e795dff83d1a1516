/**
 * The security suite's ledger. Every attack test records one entry: what was tried, whether the
 * code under test refused it, and which credentials the attacker's fake server received. Workers
 * write entries to a directory shared by the run (test/security/support/summary.ts creates it and
 * prints the total when the run ends):
 *
 *   security: N attacks tried, N blocked, N credentials leaked
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The environment variable naming the run's ledger directory (set by the summary's global setup). */
export const LEDGER_DIR_VARIABLE = 'SECRETS_ROTATOR_SECURITY_LEDGER';

export interface AttackRecord {
  /** What was tried, e.g. `postgres-alternating-users: rotated secret names the attacker's host`. */
  readonly attack: string;
  /** The code refused the attack (an error before the credential left, or a refused connection). */
  readonly blocked: boolean;
  /** How many distinct credentials the attacker's server received in any form (see {@link credentialsIn}). */
  readonly leaked: number;
}

/** Records one attack's outcome for the run's summary line. */
export function recordAttack(record: AttackRecord): void {
  const directory = process.env[LEDGER_DIR_VARIABLE];
  if (!directory) return; // a run without the summary's global setup (e.g. an IDE running one test)
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, `${randomUUID()}.json`), JSON.stringify(record));
}

/**
 * The credentials among `credentials` that appear in what an attacker received: as text, base64,
 * hex, or inside an MD5 or cleartext password message (they are plain bytes there).
 */
export function credentialsIn(
  received: ReadonlyArray<Buffer | string>,
  credentials: readonly string[],
): string[] {
  const haystack = Buffer.concat(
    received.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk)),
  );
  const text = haystack.toString('latin1');
  return credentials.filter((credential) => {
    if (credential.length === 0) return false;
    const forms = [
      credential,
      Buffer.from(credential).toString('base64').replace(/=+$/, ''),
      Buffer.from(credential).toString('hex'),
    ];
    return forms.some((form) => text.includes(form) || text.toLowerCase().includes(form.toLowerCase()));
  });
}
