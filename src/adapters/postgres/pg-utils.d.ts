/** pg's quoting functions, which sql.ts imports without the rest of pg. */
declare module 'pg/lib/utils.js' {
  const utils: { escapeIdentifier(text: string): string; escapeLiteral(text: string): string };
  export default utils;
}
