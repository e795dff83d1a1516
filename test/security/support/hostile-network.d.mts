/** Types of hostile-network.mjs (plain JavaScript, so a deployed function's process can preload it). */

/** The environment variable holding the network's description as JSON. */
export declare const HOSTILE_NETWORK_VARIABLE: 'HOSTILE_NETWORK';

/** What the attacker's network does: DNS answers by name (in order), and address routes. */
export interface HostileNetwork {
  readonly dns?: Readonly<Record<string, readonly string[]>> | undefined;
  readonly routes?: Readonly<Record<string, string>> | undefined;
}

/** Installs the network in this process; returns a function that removes it. */
export declare function installHostileNetwork(config: HostileNetwork): () => void;
