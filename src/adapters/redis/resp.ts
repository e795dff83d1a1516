/**
 * The few bytes of RESP2 (the Redis serialization protocol) the adapter needs: commands go out as
 * arrays of bulk strings (binary-safe, so no value is ever parsed as part of another), and the
 * five reply types come back. A full client library would add hundreds of kilobytes to each zip
 * for AUTH, ACL and PING.
 */

/**
 * An error reply of the server (`-WRONGPASS …`, `-NOPERM …`): a value, not a thrown error, so that
 * callers decide which ones they expect. Its text may quote the command's arguments; callers must
 * scrub it before showing it.
 *
 * @example
 * ```ts
 * if (reply instanceof RespError && reply.code === 'WRONGPASS') return undefined;
 * ```
 */
export class RespError {
  /** The first word of the reply, e.g. `WRONGPASS`, `NOPERM`, `ERR`. */
  readonly code: string;
  /** The whole reply text, e.g. `WRONGPASS invalid username-password pair or user is disabled.` */
  readonly text: string;
  constructor(text: string) {
    this.text = text;
    this.code = text.split(' ', 1)[0] ?? '';
  }
}

/**
 * A decoded reply: simple and bulk strings as strings, integers as numbers, nil as `null`.
 *
 * @example
 * ```ts
 * const reply: RespValue = ['user app on #… ~app:* +get'];
 * ```
 */
export type RespValue = string | number | null | RespError | RespValue[];

/**
 * One command as RESP: an array of bulk strings, lengths in bytes.
 *
 * @example
 * ```ts
 * encodeCommand(['PING']).toString(); // '*1\r\n$4\r\nPING\r\n'
 * ```
 */
export function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** A reply larger than this is no answer to the commands sent here: the connection is dropped. */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024;
const MAX_DEPTH = 8;

/**
 * Decodes the reply starting at `offset`; `undefined` while it is incomplete.
 *
 * @throws Error for bytes that are not RESP2 (a server of another kind).
 * @example
 * ```ts
 * decodeReply(Buffer.from('+OK\r\n'), 0); // { value: 'OK', end: 5 }
 * ```
 */
export function decodeReply(
  buffer: Buffer,
  offset: number,
  depth = 0,
): { value: RespValue; end: number } | undefined {
  if (offset >= buffer.length) return undefined;
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) {
    if (buffer.length - offset > 64 * 1024) throw new Error('a reply line without an end');
    return undefined;
  }
  const type = String.fromCharCode(buffer[offset]!);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespError(line), end: next };
    case ':': {
      const value = Number(line);
      if (!/^-?\d+$/.test(line)) throw new Error('an integer reply that is not a number');
      return { value, end: next };
    }
    case '$': {
      const length = lengthOf(line);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = lengthOf(line);
      if (count < 0) return { value: null, end: next };
      if (depth >= MAX_DEPTH) throw new Error('replies nested too deep');
      const values: RespValue[] = [];
      let position = next;
      for (let index = 0; index < count; index += 1) {
        const item = decodeReply(buffer, position, depth + 1);
        if (!item) return undefined;
        values.push(item.value);
        position = item.end;
      }
      return { value: values, end: position };
    }
    default:
      throw new Error('bytes that are not a Redis reply');
  }
}

function lengthOf(line: string): number {
  if (!/^-?\d+$/.test(line)) throw new Error('a length that is not a number');
  const length = Number(line);
  if (length > MAX_REPLY_BYTES) throw new Error('a reply over the size limit');
  return length;
}
