/**
 * Tokenizer for SHOW GRANTS / SHOW CREATE USER text, so a user named `x TO y` or `a'b` cannot be mistaken
 * for syntax.
 */

export interface Token {
  readonly type: 'word' | 'ident' | 'string' | 'punct';
  readonly value: string;
  readonly start: number;
  readonly end: number;
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
      continue;
    }
    const start = i;
    if (char === '`') {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) throw new SyntaxError(`unterminated identifier at offset ${start}`);
        if (text[i] === '`') {
          if (text[i + 1] === '`') {
            value += '`';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        value += text[i];
        i += 1;
      }
      tokens.push({ type: 'ident', value, start, end: i });
      continue;
    }
    if (char === "'" || char === '"') {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) throw new SyntaxError(`unterminated string at offset ${start}`);
        const current = text[i]!;
        if (current === '\\' && i + 1 < text.length) {
          const next = text[i + 1]!;
          value += ESCAPES[next] ?? next;
          i += 2;
          continue;
        }
        if (current === char) {
          if (text[i + 1] === char) {
            value += char;
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        value += current;
        i += 1;
      }
      tokens.push({ type: 'string', value, start, end: i });
      continue;
    }
    if (PUNCTUATION.has(char)) {
      tokens.push({ type: 'punct', value: char, start, end: i + 1 });
      i += 1;
      continue;
    }
    while (i < text.length && !/[\s`'"]/.test(text[i]!) && !PUNCTUATION.has(text[i]!)) i += 1;
    tokens.push({ type: 'word', value: text.slice(start, i), start, end: i });
  }
  return tokens;
}

export function isWord(token: Token | undefined, word: string): boolean {
  return token?.type === 'word' && token.value.toUpperCase() === word;
}

export function isPunct(token: Token | undefined, mark: string): boolean {
  return token?.type === 'punct' && token.value === mark;
}
