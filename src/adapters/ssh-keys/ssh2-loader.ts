import type ssh2Module from 'ssh2';

type Ssh2 = typeof ssh2Module;
let loaded: Ssh2 | undefined;

/** Loads ssh2 once, on first use rather than at start (it is most of the handler's start-up time). */
export async function loadSsh2(): Promise<Ssh2> {
  loaded ??= (await import('ssh2')).default;
  return loaded;
}

/** ssh2 for the synchronous key parsers, once the target's `prepare` (loadSsh2) has loaded it. */
export function loadedSsh2(): Ssh2 {
  if (!loaded)
    throw new Error('ssh2 is not loaded: await sshKeys().prepare() (loadSsh2) before parsing a key');
  return loaded;
}
