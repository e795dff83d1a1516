/**
 * Counting sequential round trips: how many times a caller had to wait for Secrets Manager before
 * it could go on. Calls in flight together count once, whatever their number.
 */
import type { RecordedCall } from './server.ts';

/**
 * The number of sequential round trips among `calls`: calls are grouped while they overlap in time
 * (one arrived before every earlier one was answered); each group is one round trip. Count with an
 * injected latency (`latencyMs`) so that calls sent together certainly overlap at the endpoint.
 */
export function sequentialRounds(calls: readonly RecordedCall[]): number {
  const ordered = [...calls].sort((a, b) => a.receivedAt - b.receivedAt);
  let rounds = 0;
  let roundEnds = Number.NEGATIVE_INFINITY;
  for (const call of ordered) {
    const answered = call.answeredAt ?? Number.POSITIVE_INFINITY;
    if (call.receivedAt >= roundEnds) {
      rounds += 1;
      roundEnds = answered;
    } else {
      roundEnds = Math.max(roundEnds, answered);
    }
  }
  return rounds;
}
