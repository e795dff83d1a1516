/**
 * Reads a step will need, started before it has the answers that decide it needs them: a step's
 * reads go out together with its DescribeSecret instead of one after another, because in a real
 * account each Secrets Manager round trip costs 10–30 ms of billed waiting.
 *
 * A read started early is only a head start: the engine still asks for the value at the point of
 * the step where it asked before, after every check, and gets the early answer (or its error)
 * there. When a check refuses first, the early answers are dropped unread.
 */
import type { PasswordPolicy } from './password.ts';
import { SecretsManagerGateway, type StoredValue, type StoredVersion } from './secrets-manager.ts';

const ignore = () => undefined;

/**
 * A {@link SecretsManagerGateway} for one invocation whose reads can be started early. Each early read is
 * taken by the first matching read and only once; anything else reads as the plain secretsManager does.
 */
export class EarlyReadingGateway extends SecretsManagerGateway {
  readonly #early = new Map<string, Promise<unknown>>();
  readonly #aliases = new Map<string, string>();

  /** Declares `alias` (an ARN from DescribeSecret) the same secret as `secretId` (from the event). */
  sameSecret(secretId: string, alias: string | undefined): void {
    if (alias !== undefined && alias !== secretId) this.#aliases.set(alias, secretId);
  }

  /** Starts reading version `token` under AWSPENDING. */
  startReadPending(secretId: string, token: string): void {
    this.#start(`pending\0${secretId}\0${token}`, () => super.readPending(secretId, token));
  }

  /** Starts reading the version holding `stage`. */
  startReadStage(secretId: string, stage: string): void {
    this.#start(`stage\0${secretId}\0${stage}`, () => super.readStage(secretId, stage));
  }

  /** Starts GetRandomPassword with `policy`. */
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
    // Handled now so that an early read nobody takes (a check refused first) is no unhandled
    // rejection; whoever takes it still gets its error.
    reading.catch(ignore);
    this.#early.set(key, reading);
  }

  #take<T>(key: string): Promise<T> | undefined {
    const reading = this.#early.get(key) as Promise<T> | undefined;
    if (reading) this.#early.delete(key);
    return reading;
  }
}
