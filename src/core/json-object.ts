/**
 * Reading a secret's JSON object without ever quoting it. Every adapter and the client parse
 * secret strings; `JSON.parse`'s own errors quote the text around the fault (a password, often),
 * so this is the one place where that error is caught and dropped.
 */
import { depthProblem, jsonDepthExcess } from './json-depth.ts';

/**
 * What is wrong with a text that should hold a JSON object, worded to follow `is`.
 *
 * @example
 * ```ts
 * const problem: JsonObjectProblem = 'not a JSON object';
 * new SecretShapeError('(value)', `is ${problem}`);
 * ```
 */
type JsonObjectProblem =
  | 'not valid JSON'
  | 'not a JSON object'
  | `nested more than ${number} levels deep${string}`;

/**
 * Parses `text` as a JSON object (not an array, not `null`, not a scalar) nested at most
 * 64 levels deep (`MAX_JSON_DEPTH`). On failure it throws what `reject` builds from the problem:
 * the parser's own message, which quotes the text, is never passed on, not even as a `cause`.
 *
 * @example
 * ```ts
 * const fields = parseJsonObject(raw, (problem) =>
 *   new SecretShapeError('(value)', `is ${problem}`, 'store a JSON object with engine, host, username and password'),
 * );
 * ```
 */
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
