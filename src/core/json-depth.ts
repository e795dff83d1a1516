// Deeply nested JSON is hostile: it overflows recursive code such as JSON.stringify. The text is
// scanned without recursion before parsing, so the check itself cannot overflow.

/** The deepest nesting accepted; the outermost object is level 1. */
export const MAX_JSON_DEPTH = 64;

const NESTING: Readonly<Record<string, number>> = { '{': 1, '[': 1, '}': -1, ']': -1 };

interface JsonDepthExcess {
  readonly depth: number;
  readonly field: string | undefined;
}

/** The first place `text` nests deeper than `limit`; malformed JSON is left for the parser to refuse. */
export function jsonDepthExcess(text: string, limit: number = MAX_JSON_DEPTH): JsonDepthExcess | undefined {
  let depth = 0;
  let field: string | undefined;
  let lastString: string | undefined;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '"') {
      const end = closingQuote(text, index);
      lastString = depth === 1 ? text.slice(index, end + 1) : undefined;
      index = end;
    } else if (char === ':' && depth === 1 && lastString !== undefined) {
      field = decodeString(lastString);
    } else {
      depth += NESTING[char!] ?? 0;
      if (depth > limit) return { depth, field };
    }
  }
  return undefined;
}

function closingQuote(text: string, start: number): number {
  let index = start + 1;
  while (index < text.length && text[index] !== '"') index += text[index] === '\\' ? 2 : 1;
  return index;
}

function decodeString(literal: string): string | undefined {
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Worded to follow `is`: "nested more than 64 levels deep (in field "options")". */
export function depthProblem(excess: JsonDepthExcess): `nested more than ${number} levels deep${string}` {
  const where = excess.field === undefined ? '' : ` (in field "${excess.field}")`;
  return `nested more than ${excess.depth - 1} levels deep${where}`;
}
