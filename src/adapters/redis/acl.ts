/**
 * The ACL commands the strategies run. Every argument goes as its own bulk string, so no name or
 * password is ever parsed as part of a rule.
 */
import { TargetRefusedError } from '../../core/errors.ts';
import type { RedisSession } from './connect.ts';
import { RespError } from './resp.ts';

/** `resetpass` and the new password in one command, so the old one stops as the new one starts. */
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

export async function addPassword(session: RedisSession, username: string, password: string): Promise<void> {
  await session.call(['ACL', 'SETUSER', username, `>${password}`], `adding a password to "${username}"`);
}

/** False when the user no longer held the password (a retried step removed it already). */
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
 * A user's rules as `ACL LIST` prints them (the form `ACL SETUSER` accepts) without its passwords;
 * `undefined` when there is no such user.
 */
async function aclRules(session: RedisSession, username: string): Promise<string[] | undefined> {
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

/** Splits an `ACL LIST` line at spaces, keeping each selector `(…)` whole. */
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
 * Makes `clone` an exact copy of `original`'s rules with `password` as its only password, and
 * checks the copy rule for rule with `ACL LIST`. Needs Redis 7 or Valkey (`clearselectors`).
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
  // Not `reset`: it also sets sanitize-payload, which the original may not have.
  const clearing = (await userExists(session, clone))
    ? ['resetpass', 'resetkeys', 'resetchannels', 'clearselectors', '-@all', 'off']
    : [];
  await session.call(['ACL', 'SETUSER', clone, ...clearing, ...rules, `>${password}`], doing);
  let copied = await aclRules(session, clone);
  if (copied?.join(' ') !== rules.join(' ') && clearing.length > 0) {
    // A flag only a fresh user is without (e.g. sanitize-payload): make the clone again from nothing.
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

export async function userExists(session: RedisSession, username: string): Promise<boolean> {
  const reply = await session.call(['ACL', 'GETUSER', username], `looking up ACL user "${username}"`);
  return reply !== null;
}
