// A step's reads go out with its DescribeSecret (each round trip costs 10–30 ms of billed waiting).
// The engine still asks for each value after every check; a refused step drops them unread.
import type { PasswordPolicy } from './password.ts';
import { SecretsManagerGateway, type StoredValue, type StoredVersion } from './secrets-manager.ts';

const ignore = () => undefined;

/** Each early read is taken once, by the first matching read; anything else reads as usual. */
export class EarlyReadingGateway extends SecretsManagerGateway {
  readonly #early = new Map<string, Promise<unknown>>();
  readonly #aliases = new Map<string, string>();

  /** Declares `alias` (an ARN from DescribeSecret) the same secret as `secretId` (from the event). */
  sameSecret(secretId: string, alias: string | undefined): void {
    if (alias !== undefined && alias !== secretId) this.#aliases.set(alias, secretId);
  }

  startReadPending(secretId: string, token: string): void {
    this.#start(`pending\0${secretId}\0${token}`, () => super.readPending(secretId, token));
  }

  startReadStage(secretId: string, stage: string): void {
    this.#start(`stage\0${secretId}\0${stage}`, () => super.readStage(secretId, stage));
  }

  startRandomPassword(policy: PasswordPolicy): void {
    this.#start(`password\0${JSON.stringify(policy)}`, () => super.randomPassword(policy));
  }

  override readPending(secretId: string, token: string): Promise<StoredValue | undefined> {
    return (
      this.#take<StoredValue | undefined>(`pending\0${this.#id(secretId)}\0${token}`) ??
      super.readPending(secretId, token)
    );
  }

  override readStage(secretId: string, stage: string): Promise<StoredVersion | undefined> {
    return (
      this.#take<StoredVersion | undefined>(`stage\0${this.#id(secretId)}\0${stage}`) ??
      super.readStage(secretId, stage)
    );
  }

  override randomPassword(policy: PasswordPolicy): Promise<string> {
    return this.#take<string>(`password\0${JSON.stringify(policy)}`) ?? super.randomPassword(policy);
  }

  #id(secretId: string): string {
    return this.#aliases.get(secretId) ?? secretId;
  }

  #start(key: string, read: () => Promise<unknown>): void {
    if (this.#early.has(key)) return;
    const reading = read();
    // An early read nobody takes must not be an unhandled rejection; a taker still gets its error.
    reading.catch(ignore);
    this.#early.set(key, reading);
  }

  #take<T>(key: string): Promise<T> | undefined {
    const reading = this.#early.get(key) as Promise<T> | undefined;
    if (reading) this.#early.delete(key);
    return reading;
  }
}

/** Enough for a shared function rotating many secrets at once; the oldest is forgotten first. */
const REMEMBERED_ROTATIONS = 64;

/**
 * What setSecret will read besides its own values, learnt in createSecret by this warm function
 * (Secrets Manager runs a rotation's steps back to back). Holds secret ids, never values.
 */
export class ApplyReadsMemory {
  readonly #ids = new Map<string, readonly string[]>();

  remember(secretId: string, token: string, ids: readonly string[] | undefined): void {
    const key = `${secretId}\0${token}`;
    this.#ids.delete(key);
    if (!ids?.length) return;
    this.#ids.set(key, ids);
    if (this.#ids.size > REMEMBERED_ROTATIONS) this.#ids.delete(this.#ids.keys().next().value!);
  }

  recall(secretId: string, token: string): readonly string[] {
    return this.#ids.get(`${secretId}\0${token}`) ?? [];
  }
}
