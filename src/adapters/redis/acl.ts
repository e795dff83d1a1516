/**
 * The ACL commands the strategies run: password changes, and the exact copy of a user's rules to
 * its clone. Every argument goes as its own bulk string, so no name or password is ever parsed as
 * part of a rule.
 */
import { TargetRefusedError } from '../../core/errors.ts';
import type { RedisSession } from './connect.ts';
import { RespError } from './resp.ts';

/**
 * Sets a user's only password: `ACL SETUSER <user> resetpass ><password>` (one command, so the old
 * password stops and the new one starts at once).
 *
 * @example
 * ```ts
 * await replacePassword(session, 'app', pending.password);
 * ```
 */
export async function replacePassword(
  session: RedisSession,
  username: string,
  password: string,
): Promise<void> {
  await session.call(
    ['ACL', 'SETUSER', username, 'resetpass', `>${password}`],
    `setting the password of "${username}"`,
  );
}

/**
 * Adds a password, keeping the others: `ACL SETUSER <user> ><password>`. Harmless when the user
 * holds it already.
 *
 * @example
 * ```ts
 * await addPassword(session, 'app', pending.password);
 * ```
 */
export async function addPassword(session: RedisSession, username: string, password: string): Promise<void> {
  await session.call(['ACL', 'SETUSER', username, `>${password}`], `adding a password to "${username}"`);
}

/**
 * Removes one password: `ACL SETUSER <user> <<password>`. False when the user did not hold it
 * (removed already), true when it was removed.
 *
 * @example
 * ```ts
 * await removePassword(session, 'app', previous.password);
 * ```
 */
export async function removePassword(
  session: RedisSession,
  username: string,
  password: string,
): Promise<boolean> {
  const doing = `removing a password from "${username}"`;
  const reply = await session.send(['ACL', 'SETUSER', username, `<${password}`], doing);
  if (reply instanceof RespError) {
    if (/does not exist/i.test(reply.text)) return false;
    throw session.refusal(reply, doing);
  }
  return true;
}

/**
 * The rules of a user as `ACL LIST` prints them (the canonical form that `ACL SETUSER` accepts),
 * without its passwords (`#<sha256>`, `nopass`); `undefined` when there is no such user. A
 * selector `(…)` is one rule.
 *
 * @example
 * ```ts
 * await aclRules(session, 'app'); // ['on', 'sanitize-payload', '~app:*', 'resetchannels', '-@all', '+get']
 * ```
 */
export async function aclRules(session: RedisSession, username: string): Promise<string[] | undefined> {
  const reply = await session.call(['ACL', 'LIST'], 'reading the ACL users (ACL LIST)');
  if (!Array.isArray(reply)) {
    throw new TargetRefusedError(
      'rejected',
      `ACL LIST on ${session.where} did not answer with a list of users`,
    );
  }
  const prefix = `user ${username} `;
  const line = reply.find((entry): entry is string => typeof entry === 'string' && entry.startsWith(prefix));
  if (line === undefined) return undefined;
  return splitRules(line.slice(prefix.length)).filter(
    (rule) => rule !== 'nopass' && !/^#[0-9a-f]{64}$/.test(rule),
  );
}

/**
 * Splits an `ACL LIST` line into rules at spaces, keeping each selector `(…)` whole.
 *
 * @example
 * ```ts
 * splitRules('on ~a* (~b* +get) +set'); // ['on', '~a*', '(~b* +get)', '+set']
 * ```
 */
export function splitRules(text: string): string[] {
  const rules: string[] = [];
  let depth = 0;
  let current = '';
  for (const character of text) {
    if (character === ' ' && depth === 0) {
      if (current !== '') rules.push(current);
      current = '';
      continue;
    }
    if (character === '(') depth += 1;
    if (character === ')') depth = Math.max(0, depth - 1);
    current += character;
  }
  if (current !== '') rules.push(current);
  return rules;
}

/**
 * Makes `clone` an exact copy of `original`'s rules (on/off, keys, channels, commands, selectors,
 * flags) with `password` as its only password, in one `ACL SETUSER clone <clearing> <rules…> >password`,
 * and checks the result with `ACL LIST`: the two users' rules must then be the same, rule for rule.
 * Needs Redis 7 or Valkey (`clearselectors`).
 *
 * @throws TargetRefusedError when the original does not exist, or the copy differs.
 * @example
 * ```ts
 * await copyUser(session, 'app', 'app_clone', pending.password);
 * ```
 */
export async function copyUser(
  session: RedisSession,
  original: string,
  clone: string,
  password: string,
): Promise<readonly string[]> {
  const rules = await aclRules(session, original);
  if (rules === undefined) {
    throw new TargetRefusedError(
      'rejected',
      `ACL user "${original}" does not exist on ${session.where}, so its clone "${clone}" cannot copy its rules; create "${original}" (the secret's user), or use REDIS_PREPROVISIONED_PAIR with both users created by you`,
    );
  }
  const doing = `copying the ACL rules of "${original}" to "${clone}"`;
  // Not `reset`: it also sets sanitize-payload, which the original may not have. An existing clone
  // is cleared rule by rule (its password, keys, channels, selectors, commands; off) instead.
  const clearing = (await userExists(session, clone))
    ? ['resetpass', 'resetkeys', 'resetchannels', 'clearselectors', '-@all', 'off']
    : [];
  await session.call(['ACL', 'SETUSER', clone, ...clearing, ...rules, `>${password}`], doing);
  let copied = await aclRules(session, clone);
  if (copied?.join(' ') !== rules.join(' ') && clearing.length > 0) {
    // A flag only a fresh user is without (sanitize-payload set by hand or by an earlier reset):
    // the clone is made again from nothing. Its sessions end; they used a password replaced above.
    await session.call(
      ['ACL', 'DELUSER', clone],
      `deleting "${clone}" to copy the rules of "${original}" afresh`,
    );
    await session.call(['ACL', 'SETUSER', clone, ...rules, `>${password}`], doing);
    copied = await aclRules(session, clone);
  }
  if (copied === undefined || copied.join(' ') !== rules.join(' ')) {
    throw new TargetRefusedError(
      'rejected',
      `after copying, the ACL rules of "${clone}" (${copied?.join(' ') ?? 'none'}) differ from those of "${original}" (${rules.join(' ')}); fix the rules of "${original}" so that ACL SETUSER accepts them as ACL LIST prints them`,
    );
  }
  return rules;
}

/**
 * Whether an ACL user exists (`ACL GETUSER` answers nil for an unknown one).
 *
 * @example
 * ```ts
 * if (!(await userExists(session, 'app_clone'))) throw new Error('create it');
 * ```
 */
export async function userExists(session: RedisSession, username: string): Promise<boolean> {
  const reply = await session.call(['ACL', 'GETUSER', username], `looking up ACL user "${username}"`);
  return reply !== null;
}
