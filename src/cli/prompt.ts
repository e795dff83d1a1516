/** A yes/no question on the terminal, for commands that change a secret. */
import { createInterface } from 'node:readline/promises';
import type { CliIo } from './io.ts';

/**
 * Asks `question` on stdin/stderr and resolves true only for "y" or "yes". Callers check that
 * stdin is a terminal first.
 */
export async function confirm(io: CliIo, question: string): Promise<boolean> {
  if (!io.stdin) return false;
  const rl = createInterface({ input: io.stdin, output: io.stderr as unknown as NodeJS.WritableStream });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
