/**
 * node:crypto, taken when first used rather than imported: loading it costs several milliseconds of
 * cold start, and nothing before the first invocation needs it.
 */
export function nodeCrypto(): typeof import('node:crypto') {
  return process.getBuiltinModule('node:crypto');
}
