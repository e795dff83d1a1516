import type { RecordedCall } from './server.ts';

/**
 * Sequential round trips among `calls`: overlapping calls count once. Inject `latencyMs` so calls
 * sent together certainly overlap at the endpoint.
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
