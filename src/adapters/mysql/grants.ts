/**
 * SHOW GRANTS read token by token and re-rendered with our quoting (nothing the server printed is pasted
 * into SQL); the sync revokes and grants only the difference, since the clone may be in use.
 */
import type { MysqlFlavour } from './flavour.ts';
import {
  type Account,
  quoteAccount,
  quoteIdentifier,
  type SqlMode,
  type Statement,
  stringLiteral,
} from './sql.ts';
import { isPunct, isWord, type Token, tokenize } from './tokens.ts';

interface Privilege {
  readonly name: string;
  readonly column?: string | undefined;
}

interface ObjectGrants {
  readonly object: string;
  /** `USAGE` is never listed: it means no privilege. */
  readonly privileges: ReadonlyMap<string, Privilege>;
  readonly grantOption: boolean;
}

export interface GrantSet {
  readonly objects: ReadonlyMap<string, ObjectGrants>;
  readonly restrictions: ReadonlyMap<string, ObjectGrants>;
  readonly roles: ReadonlyMap<string, { readonly admin: boolean }>;
  readonly defaultRoles: readonly string[];
}

/** Never quotes the line: the first one can hold a password hash. */
export class GrantParseError extends Error {
  override readonly name = 'GrantParseError';
}

function privilegeKey(privilege: Privilege): string {
  return privilege.column === undefined
    ? privilege.name
    : `${privilege.name} (${quoteIdentifier(privilege.column)})`;
}

const PRIVILEGE_NAME = /^[A-Z][A-Z0-9_]*( [A-Z][A-Z0-9_]*)*$/;
const OBJECT_TYPES = new Set(['TABLE', 'FUNCTION', 'PROCEDURE', 'PACKAGE']);

export function parseGrants(lines: readonly string[], account: Account, mode: SqlMode): GrantSet {
  const objects = new Map<string, MutableObjectGrants>();
  const restrictions = new Map<string, MutableObjectGrants>();
  const roles = new Map<string, { admin: boolean }>();
  let defaultRoles: string[] = [];

  lines.forEach((line, index) => {
    const where = `line ${index + 1} of SHOW GRANTS for ${account.user}`;
    let tokens: Token[];
    try {
      tokens = tokenize(line);
    } catch (error) {
      throw new GrantParseError(`${where}: ${(error as Error).message}`);
    }
    const reader = new TokenReader(tokens, where);
    if (reader.acceptWord('GRANT')) {
      const items = reader.readItems();
      if (reader.acceptWord('ON')) {
        const object = reader.readObject(mode);
        reader.expectWord('TO');
        reader.expectGrantee(account);
        const grantOption = reader.restHas('GRANT', 'OPTION');
        addPrivileges(objects, object, items, grantOption, where);
        return;
      }
      reader.expectWord('TO');
      reader.expectGrantee(account);
      const admin = reader.restHas('ADMIN', 'OPTION');
      for (const item of items) roles.set(roleText(item, where), { admin });
      return;
    }
    if (reader.acceptWord('REVOKE')) {
      const items = reader.readItems();
      reader.expectWord('ON');
      const object = reader.readObject(mode);
      reader.expectWord('FROM');
      reader.expectGrantee(account);
      addPrivileges(restrictions, object, items, false, where);
      return;
    }
    if (reader.acceptWord('SET')) {
      reader.expectWord('DEFAULT');
      reader.expectWord('ROLE');
      const items = reader.readItems();
      reader.expectWord('FOR');
      reader.expectGrantee(account);
      defaultRoles = items
        .filter((item) => !(item.kind === 'privilege' && item.name === 'NONE'))
        .map((item) => roleText(item, where));
      return;
    }
    throw new GrantParseError(`${where}: expected GRANT, REVOKE or SET DEFAULT ROLE`);
  });

  return { objects, restrictions, roles, defaultRoles };
}

/**
 * Revoke, then grant, then default roles; each statement idempotent, so a run cut short is finished by the
 * next.
 */
export function planGrantSync(
  flavour: MysqlFlavour,
  original: GrantSet,
  clone: GrantSet,
  cloneAccount: Account,
  defaultRoles?: { readonly original: readonly string[]; readonly clone: readonly string[] },
): Statement[] {
  const target = quoteAccount(cloneAccount);
  const revokes: Statement[] = [];
  const grants: Statement[] = [];

  for (const [key, held] of clone.objects) {
    const wanted = original.objects.get(key);
    const wantedAll = wanted?.privileges.has('ALL PRIVILEGES') ?? false;
    const extra = [...held.privileges.values()].filter((privilege) => {
      if (wanted?.privileges.has(privilegeKey(privilege))) return false;
      // ALL PRIVILEGES covers every table-level privilege; column privileges stay separate.
      return !(wantedAll && privilege.column === undefined);
    });
    const items = renderPrivileges(extra);
    if (held.grantOption && !wanted?.grantOption) items.push('GRANT OPTION');
    if (items.length > 0) {
      revokes.push({
        label: `revoke from ${cloneAccount.user} what the original no longer has on ${key}`,
        text: `REVOKE ${items.join(', ')} ON ${key} FROM ${target}`,
        sensitive: false,
      });
    }
  }

  const droppedRoles = new Set<string>();
  for (const [role, held] of clone.roles) {
    const wanted = original.roles.get(role);
    if (!wanted || (held.admin && !wanted.admin && flavour.kind !== 'mariadb')) {
      droppedRoles.add(role);
      revokes.push({
        label: `revoke role ${role} from ${cloneAccount.user}`,
        text: `REVOKE ${role} FROM ${target}`,
        sensitive: false,
      });
    } else if (held.admin && !wanted.admin) {
      revokes.push({
        label: `revoke the admin option of role ${role} from ${cloneAccount.user}`,
        text: `REVOKE ADMIN OPTION FOR ${role} FROM ${target}`,
        sensitive: false,
      });
    }
  }

  for (const [key, wanted] of original.objects) {
    const held = clone.objects.get(key);
    const heldAll = held?.privileges.has('ALL PRIVILEGES') && wanted.privileges.has('ALL PRIVILEGES');
    const missing = [...wanted.privileges.values()].filter((privilege) => {
      if (heldAll && privilege.column === undefined) return false;
      return !held?.privileges.has(privilegeKey(privilege));
    });
    const needsGrantOption = wanted.grantOption && !held?.grantOption;
    if (missing.length === 0 && !needsGrantOption) continue;
    const items = missing.length > 0 ? renderPrivileges(missing) : ['USAGE'];
    grants.push({
      label: `grant ${cloneAccount.user} what the original has on ${key}`,
      text: `GRANT ${items.join(', ')} ON ${key} TO ${target}${wanted.grantOption ? ' WITH GRANT OPTION' : ''}`,
      sensitive: false,
    });
  }

  // MySQL 8 partial revokes: lift the clone's extra ones, add the original's.
  for (const [key, held] of clone.restrictions) {
    const wanted = original.restrictions.get(key);
    const extra = [...held.privileges.values()].filter((p) => !wanted?.privileges.has(privilegeKey(p)));
    if (extra.length > 0) {
      grants.push({
        label: `lift a partial revoke on ${key} the original does not have`,
        text: `GRANT ${renderPrivileges(extra).join(', ')} ON ${key} TO ${target}`,
        sensitive: false,
      });
    }
  }
  for (const [key, wanted] of original.restrictions) {
    const held = clone.restrictions.get(key);
    const missing = [...wanted.privileges.values()].filter((p) => !held?.privileges.has(privilegeKey(p)));
    if (missing.length > 0) {
      grants.push({
        label: `copy the original's partial revoke on ${key}`,
        text: `REVOKE ${renderPrivileges(missing).join(', ')} ON ${key} FROM ${target}`,
        sensitive: false,
      });
    }
  }

  for (const [role, wanted] of original.roles) {
    const held = droppedRoles.has(role) ? undefined : clone.roles.get(role);
    if (held && (held.admin || !wanted.admin)) continue;
    grants.push({
      label: `grant role ${role} to ${cloneAccount.user}`,
      text: `GRANT ${role} TO ${target}${wanted.admin ? ' WITH ADMIN OPTION' : ''}`,
      sensitive: false,
    });
  }

  const wantedDefaults = [...(defaultRoles?.original ?? original.defaultRoles)].sort();
  const heldDefaults = [...(defaultRoles?.clone ?? clone.defaultRoles)].sort();
  const droppedDefault = heldDefaults.some((role) => droppedRoles.has(role));
  if (droppedDefault || wantedDefaults.join('\n') !== heldDefaults.join('\n')) {
    grants.push(defaultRoleStatement(flavour, wantedDefaults, cloneAccount));
  }

  return [...revokes, ...grants];
}

function defaultRoleStatement(flavour: MysqlFlavour, roles: readonly string[], account: Account): Statement {
  const list = roles.length === 0 ? 'NONE' : roles.join(', ');
  const text =
    flavour.kind === 'mariadb'
      ? `SET DEFAULT ROLE ${roles.length === 0 ? 'NONE' : roles[0]} FOR ${quoteAccount(account)}`
      : `SET DEFAULT ROLE ${list} TO ${quoteAccount(account)}`;
  return { label: `set the default roles of ${account.user}`, text, sensitive: false };
}

type Item =
  | { readonly kind: 'privilege'; readonly name: string; readonly columns: readonly string[] | undefined }
  | { readonly kind: 'role'; readonly name: string; readonly host: string | undefined };

interface MutableObjectGrants {
  object: string;
  privileges: Map<string, Privilege>;
  grantOption: boolean;
}

function addPrivileges(
  into: Map<string, MutableObjectGrants>,
  object: string,
  items: readonly Item[],
  grantOption: boolean,
  where: string,
): void {
  let entry = into.get(object);
  if (!entry) {
    entry = { object, privileges: new Map(), grantOption: false };
    into.set(object, entry);
  }
  entry.grantOption ||= grantOption;
  for (const item of items) {
    if (item.kind !== 'privilege') throw new GrantParseError(`${where}: expected privilege names before ON`);
    if (item.name === 'USAGE') continue;
    if (item.name === 'GRANT OPTION') {
      entry.grantOption = true;
      continue;
    }
    const name = item.name === 'ALL' ? 'ALL PRIVILEGES' : item.name;
    for (const column of item.columns ?? [undefined]) {
      const privilege: Privilege = { name, column };
      entry.privileges.set(privilegeKey(privilege), privilege);
    }
  }
}

function roleText(item: Item, where: string): string {
  if (item.kind !== 'role') throw new GrantParseError(`${where}: expected a quoted role name`);
  return item.host === undefined
    ? quoteIdentifier(item.name)
    : quoteAccount({ user: item.name, host: item.host });
}

function renderPrivileges(privileges: readonly Privilege[]): string[] {
  const columns = new Map<string, string[]>();
  const rendered: string[] = [];
  for (const privilege of privileges) {
    if (privilege.column === undefined) {
      rendered.push(privilege.name);
      continue;
    }
    const list = columns.get(privilege.name);
    if (list) list.push(privilege.column);
    else columns.set(privilege.name, [privilege.column]);
  }
  for (const [name, list] of columns) rendered.push(`${name} (${list.map(quoteIdentifier).join(', ')})`);
  return rendered;
}

class TokenReader {
  readonly #tokens: readonly Token[];
  readonly #where: string;
  #at = 0;

  constructor(tokens: readonly Token[], where: string) {
    this.#tokens = tokens;
    this.#where = where;
  }

  #fail(expected: string): never {
    throw new GrantParseError(`${this.#where}: expected ${expected} at token ${this.#at + 1}`);
  }

  #peek(offset = 0): Token | undefined {
    return this.#tokens[this.#at + offset];
  }

  acceptWord(word: string): boolean {
    if (isWord(this.#peek(), word)) {
      this.#at += 1;
      return true;
    }
    return false;
  }

  expectWord(word: string): void {
    if (!this.acceptWord(word)) this.#fail(word);
  }

  readItems(): Item[] {
    const items: Item[] = [];
    for (;;) {
      const token = this.#peek();
      if (token?.type === 'ident' || token?.type === 'string') {
        this.#at += 1;
        let host: string | undefined;
        if (isPunct(this.#peek(), '@')) {
          this.#at += 1;
          host = this.#name('a role host');
        }
        items.push({ kind: 'role', name: token.value, host });
      } else {
        const words: string[] = [];
        while (this.#peek()?.type === 'word' && !this.#atClauseKeyword()) {
          words.push(this.#peek()!.value.toUpperCase());
          this.#at += 1;
        }
        if (words.length === 0) this.#fail('a privilege or role');
        const name = words.join(' ');
        if (!PRIVILEGE_NAME.test(name)) this.#fail('a privilege name');
        let columns: string[] | undefined;
        if (isPunct(this.#peek(), '(')) {
          this.#at += 1;
          columns = [];
          for (;;) {
            columns.push(this.#name('a column name'));
            if (isPunct(this.#peek(), ',')) {
              this.#at += 1;
              continue;
            }
            if (isPunct(this.#peek(), ')')) {
              this.#at += 1;
              break;
            }
            this.#fail('"," or ")" in a column list');
          }
        }
        items.push({ kind: 'privilege', name, columns });
      }
      if (isPunct(this.#peek(), ',')) {
        this.#at += 1;
        continue;
      }
      return items;
    }
  }

  #atClauseKeyword(): boolean {
    const token = this.#peek();
    return isWord(token, 'ON') || isWord(token, 'TO') || isWord(token, 'FROM') || isWord(token, 'FOR');
  }

  readObject(mode: SqlMode): string {
    let prefix = '';
    const first = this.#peek();
    if (
      first?.type === 'word' &&
      OBJECT_TYPES.has(first.value.toUpperCase()) &&
      !isPunct(this.#peek(1), '.')
    ) {
      prefix = first.value.toUpperCase();
      this.#at += 1;
      if (prefix === 'PACKAGE' && this.acceptWord('BODY')) prefix = 'PACKAGE BODY';
      prefix += ' ';
    }
    if (isPunct(this.#peek(1), '@')) {
      const user = this.#name('a user name');
      this.#at += 1;
      const host = this.#name('a host name');
      return `${prefix}${stringLiteral(user, mode)}@${stringLiteral(host, mode)}`;
    }
    const database = this.#part();
    if (!isPunct(this.#peek(), '.')) return `${prefix}${database}`;
    this.#at += 1;
    return `${prefix}${database}.${this.#part()}`;
  }

  #part(): string {
    if (isPunct(this.#peek(), '*')) {
      this.#at += 1;
      return '*';
    }
    return quoteIdentifier(this.#name('a database or table name'));
  }

  #name(expected: string): string {
    const token = this.#peek();
    if (token && (token.type === 'ident' || token.type === 'string' || token.type === 'word')) {
      this.#at += 1;
      return token.value;
    }
    this.#fail(expected);
  }

  expectGrantee(account: Account): void {
    const user = this.#name('the grantee');
    if (!isPunct(this.#peek(), '@')) this.#fail('"@" in the grantee');
    this.#at += 1;
    const host = this.#name('the grantee host');
    if (user !== account.user || host.toLowerCase() !== account.host.toLowerCase()) {
      throw new GrantParseError(`${this.#where}: the line names another account than ${account.user}`);
    }
  }

  restHas(first: string, second: string): boolean {
    for (let i = this.#at; i < this.#tokens.length - 1; i += 1) {
      if (isWord(this.#tokens[i], first) && isWord(this.#tokens[i + 1], second)) return true;
    }
    return false;
  }
}
