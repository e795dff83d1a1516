/**
 * Tokenizer for SHOW GRANTS / SHOW CREATE USER text, so a user named `x TO y` or `a'b` cannot be mistaken
 * for syntax.
 */

export interface Token {
  readonly type: 'word' | 'ident' | 'string' | 'punct';
  readonly value: string;
}

const PUNCTUATION = new Set(['(', ')', ',', '.', '@', ';', '=', '*']);
const ESCAPES: Readonly<Record<string, string>> = {
  '0': '\0',
  b: '\b',
  n: '\n',
  r: '\r',
  t: '\t',
  Z: '\x1a',
};

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    if (/\s/.test(char)) {
      i += 1;
    } else if (char === '`' || char === "'" || char === '"') {
      const quoted = readQuoted(text, i);
      tokens.push(quoted.token);
      i = quoted.end;
    } else if (PUNCTUATION.has(char)) {
      tokens.push({ type: 'punct', value: char });
      i += 1;
    } else {
      const start = i;
      while (i < text.length && !/[\s`'"]/.test(text[i]!) && !PUNCTUATION.has(text[i]!)) i += 1;
      tokens.push({ type: 'word', value: text.slice(start, i) });
    }
  }
  return tokens;
}

/** The identifier or string whose opening quote is at `start`, and the offset after its closing quote. */
function readQuoted(text: string, start: number): { token: Token; end: number } {
  const quote = text[start]!;
  // Identifiers and strings both double their quote; only strings take backslash escapes.
  const type = quote === '`' ? 'ident' : 'string';
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const current = text[i]!;
    if (type === 'string' && current === '\\' && i + 1 < text.length) {
      const next = text[i + 1]!;
      value += ESCAPES[next] ?? next;
      i += 2;
    } else if (current !== quote) {
      value += current;
      i += 1;
    } else if (text[i + 1] === quote) {
      value += quote;
      i += 2;
    } else {
      return { token: { type, value }, end: i + 1 };
    }
  }
  throw new SyntaxError(`unterminated ${type === 'ident' ? 'identifier' : 'string'} at offset ${start}`);
}

export function isWord(token: Token | undefined, word: string): boolean {
  return token?.type === 'word' && token.value.toUpperCase() === word;
}

export function isPunct(token: Token | undefined, mark: string): boolean {
  return token?.type === 'punct' && token.value === mark;
}
