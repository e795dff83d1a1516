/**
 * A limit on how deeply JSON objects and arrays may nest. Secrets and configuration blocks are
 * flat in practice; a value nested thousands of levels deep is hostile, and it overflows the
 * stack of the recursive code that handles parsed JSON (`JSON.stringify` among it). The text is
 * scanned without recursion before it is parsed, so the check itself cannot overflow.
 */

/**
 * The deepest nesting of objects and arrays accepted in a secret's JSON, a configuration block or
 * a provider's answer: 64 levels (the outermost object is level 1).
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Where a JSON text nests too deeply: the depth reached (at least `limit + 1`) and the top-level
 * field it happened under, when the text is an object.
 */
export interface JsonDepthExcess {
  readonly depth: number;
  readonly field: string | undefined;
}

/**
 * Scans `text` (without parsing it, and without recursion) and reports the first place where
 * objects and arrays nest deeper than `limit`; `undefined` when they never do. Brackets inside
 * strings are ignored. Malformed JSON is left for the parser to refuse.
 */
export function jsonDepthExcess(text: string, limit: number = MAX_JSON_DEPTH): JsonDepthExcess | undefined {
  let depth = 0;
  let field: string | undefined;
  let lastString: string | undefined;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '"') {
      const start = index;
      for (index++; index < text.length && text[index] !== '"'; index++) {
        if (text[index] === '\\') index++;
      }
      lastString = depth === 1 ? text.slice(start, index + 1) : undefined;
    } else if (char === ':') {
      if (depth === 1 && lastString !== undefined) field = decodeString(lastString);
    } else if (char === '{' || char === '[') {
      depth++;
      if (depth > limit) return { depth, field };
    } else if (char === '}' || char === ']') {
      depth--;
    }
  }
  return undefined;
}

function decodeString(literal: string): string | undefined {
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The words for a too-deep value, worded to follow `is`: "nested more than 64 levels deep (in
 * field "options")".
 */
export function depthProblem(excess: JsonDepthExcess): `nested more than ${number} levels deep${string}` {
  const where = excess.field === undefined ? '' : ` (in field "${excess.field}")`;
  return `nested more than ${excess.depth - 1} levels deep${where}`;
}
