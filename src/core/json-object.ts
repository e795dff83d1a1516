// The one place JSON.parse errors are caught and dropped: they quote the text around the fault,
// often a password.
import { depthProblem, jsonDepthExcess } from './json-depth.ts';

/** Worded to follow `is`. */
type JsonObjectProblem =
  | 'not valid JSON'
  | 'not a JSON object'
  | `nested more than ${number} levels deep${string}`;

/** Parses a JSON object; on failure throws `reject(problem)`, never the parser's message, which quotes the text. */
export function parseJsonObject(
  text: string,
  reject: (problem: JsonObjectProblem) => Error,
): Record<string, unknown> {
  const excess = jsonDepthExcess(text);
  if (excess) throw reject(depthProblem(excess));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw reject('not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw reject('not a JSON object');
  }
  return parsed as Record<string, unknown>;
}
