/**
 * The few bytes of RESP2 the adapter needs, instead of a client library that would add hundreds of
 * kilobytes to each zip: commands go out as arrays of bulk strings (binary-safe, so no value is
 * parsed as part of another), and the five reply types come back.
 */

/** An error reply, returned as a value so callers choose which they expect; its text may quote arguments. */
export class RespError {
  /** The first word: `WRONGPASS`, `NOPERM`, `ERR` … */
  readonly code: string;
  readonly text: string;
  constructor(text: string) {
    this.text = text;
    this.code = text.split(' ', 1)[0] ?? '';
  }
}

export type RespValue = string | number | null | RespError | RespValue[];

export function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** A reply larger than this answers no command sent here: the connection is dropped. */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024;
const MAX_DEPTH = 8;

type Decoded = { value: RespValue; end: number } | undefined;

/** Decodes the reply at `offset`; `undefined` while it is incomplete; throws on bytes that are not RESP2. */
export function decodeReply(buffer: Buffer, offset: number, depth = 0): Decoded {
  if (offset >= buffer.length) return undefined;
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) {
    if (buffer.length - offset > 64 * 1024) throw new Error('a reply line without an end');
    return undefined;
  }
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (String.fromCharCode(buffer[offset]!)) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespError(line), end: next };
    case ':':
      if (!/^-?\d+$/.test(line)) throw new Error('an integer reply that is not a number');
      return { value: Number(line), end: next };
    case '$': {
      const length = lengthOf(line);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*':
      return decodeArray(buffer, next, lengthOf(line), depth);
    default:
      throw new Error('bytes that are not a Redis reply');
  }
}

function decodeArray(buffer: Buffer, start: number, count: number, depth: number): Decoded {
  if (count < 0) return { value: null, end: start };
  if (depth >= MAX_DEPTH) throw new Error('replies nested too deep');
  const values: RespValue[] = [];
  let position = start;
  for (let index = 0; index < count; index += 1) {
    const item = decodeReply(buffer, position, depth + 1);
    if (!item) return undefined;
    values.push(item.value);
    position = item.end;
  }
  return { value: values, end: position };
}

function lengthOf(line: string): number {
  if (!/^-?\d+$/.test(line)) throw new Error('a length that is not a number');
  const length = Number(line);
  if (length > MAX_REPLY_BYTES) throw new Error('a reply over the size limit');
  return length;
}
