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

/** Revokes, then grants, then default roles; each statement idempotent, so the next run finishes a cut one. */
export function planGrantSync(
  flavour: MysqlFlavour,
  original: GrantSet,
  clone: GrantSet,
  cloneAccount: Account,
  defaultRoles?: { readonly original: readonly string[]; readonly clone: readonly string[] },
): Statement[] {
  const sync: GrantSync = {
    original,
    clone,
    account: cloneAccount,
    dropped: droppedRoles(flavour, original, clone),
  };
  const wantedDefaults = [...(defaultRoles?.original ?? original.defaultRoles)].sort();
  const heldDefaults = [...(defaultRoles?.clone ?? clone.defaultRoles)].sort();
  const defaultsDiffer =
    heldDefaults.some((role) => sync.dropped.has(role)) ||
    wantedDefaults.join('\n') !== heldDefaults.join('\n');
  return [
    ...objectRevokes(sync),
    ...roleRevokes(sync),
    ...objectGrants(sync),
    ...restrictionSync(sync),
    ...roleGrants(sync),
    ...(defaultsDiffer ? [defaultRoleStatement(flavour, wantedDefaults, cloneAccount)] : []),
  ];
}

interface GrantSync {
  readonly original: GrantSet;
  readonly clone: GrantSet;
  readonly account: Account;
  readonly dropped: ReadonlySet<string>;
}

function statement(label: string, text: string): Statement {
  return { label, text, sensitive: false };
}

/** With `coveredByAll`, ALL PRIVILEGES covers every table-level privilege; column privileges stay separate. */
function lacking(from: ObjectGrants, other: ObjectGrants | undefined, coveredByAll = false): Privilege[] {
  return [...from.privileges.values()].filter(
    (p) => !(coveredByAll && p.column === undefined) && !other?.privileges.has(privilegeKey(p)),
  );
}

function objectRevokes({ original, clone, account }: GrantSync): Statement[] {
  return [...clone.objects].flatMap(([key, held]) => {
    const wanted = original.objects.get(key);
    const items = renderPrivileges(lacking(held, wanted, wanted?.privileges.has('ALL PRIVILEGES')));
    if (held.grantOption && !wanted?.grantOption) items.push('GRANT OPTION');
    if (items.length === 0) return [];
    return statement(
      `revoke from ${account.user} what the original no longer has on ${key}`,
      `REVOKE ${items.join(', ')} ON ${key} FROM ${quoteAccount(account)}`,
    );
  });
}

/** MySQL cannot revoke only a role's admin option, so such a role is revoked and granted again. */
function droppedRoles(flavour: MysqlFlavour, original: GrantSet, clone: GrantSet): Set<string> {
  const dropped = [...clone.roles].filter(([role, held]) => {
    const wanted = original.roles.get(role);
    return !wanted || (held.admin && !wanted.admin && flavour.kind !== 'mariadb');
  });
  return new Set(dropped.map(([role]) => role));
}

function roleRevokes({ original, clone, account, dropped }: GrantSync): Statement[] {
  return [...clone.roles].flatMap(([role, held]) => {
    if (dropped.has(role)) {
      return statement(
        `revoke role ${role} from ${account.user}`,
        `REVOKE ${role} FROM ${quoteAccount(account)}`,
      );
    }
    if (!held.admin || original.roles.get(role)?.admin) return [];
    return statement(
      `revoke the admin option of role ${role} from ${account.user}`,
      `REVOKE ADMIN OPTION FOR ${role} FROM ${quoteAccount(account)}`,
    );
  });
}

function objectGrants({ original, clone, account }: GrantSync): Statement[] {
  return [...original.objects].flatMap(([key, wanted]) => {
    const held = clone.objects.get(key);
    const bothAll = held?.privileges.has('ALL PRIVILEGES') && wanted.privileges.has('ALL PRIVILEGES');
    const missing = lacking(wanted, held, bothAll);
    if (missing.length === 0 && (!wanted.grantOption || held?.grantOption)) return [];
    const items = missing.length > 0 ? renderPrivileges(missing) : ['USAGE'];
    return statement(
      `grant ${account.user} what the original has on ${key}`,
      `GRANT ${items.join(', ')} ON ${key} TO ${quoteAccount(account)}${wanted.grantOption ? ' WITH GRANT OPTION' : ''}`,
    );
  });
}

/** MySQL 8 partial revokes: lift the clone's extra ones, add the original's. */
function restrictionSync({ original, clone, account }: GrantSync): Statement[] {
  const lifts = [...clone.restrictions].flatMap(([key, held]) => {
    const extra = lacking(held, original.restrictions.get(key));
    if (extra.length === 0) return [];
    return statement(
      `lift a partial revoke on ${key} the original does not have`,
      `GRANT ${renderPrivileges(extra).join(', ')} ON ${key} TO ${quoteAccount(account)}`,
    );
  });
  const copies = [...original.restrictions].flatMap(([key, wanted]) => {
    const missing = lacking(wanted, clone.restrictions.get(key));
    if (missing.length === 0) return [];
    return statement(
      `copy the original's partial revoke on ${key}`,
      `REVOKE ${renderPrivileges(missing).join(', ')} ON ${key} FROM ${quoteAccount(account)}`,
    );
  });
  return [...lifts, ...copies];
}

function roleGrants({ original, clone, account, dropped }: GrantSync): Statement[] {
  return [...original.roles].flatMap(([role, wanted]) => {
    const held = dropped.has(role) ? undefined : clone.roles.get(role);
    if (held && (held.admin || !wanted.admin)) return [];
    return statement(
      `grant role ${role} to ${account.user}`,
      `GRANT ${role} TO ${quoteAccount(account)}${wanted.admin ? ' WITH ADMIN OPTION' : ''}`,
    );
  });
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
  const entry = into.get(object) ?? { object, privileges: new Map(), grantOption: false };
  into.set(object, entry);
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
    columns.set(privilege.name, [...(columns.get(privilege.name) ?? []), privilege.column]);
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
    const found = isWord(this.#peek(), word);
    if (found) this.#at += 1;
    return found;
  }

  expectWord(word: string): void {
    if (!this.acceptWord(word)) this.#fail(word);
  }

  #acceptPunct(punct: string): boolean {
    const found = isPunct(this.#peek(), punct);
    if (found) this.#at += 1;
    return found;
  }

  readItems(): Item[] {
    const items: Item[] = [];
    do {
      const token = this.#peek();
      if (token?.type === 'ident' || token?.type === 'string') {
        this.#at += 1;
        const host = this.#acceptPunct('@') ? this.#name('a role host') : undefined;
        items.push({ kind: 'role', name: token.value, host });
      } else {
        items.push(this.#readPrivilege());
      }
    } while (this.#acceptPunct(','));
    return items;
  }

  #readPrivilege(): Item {
    const words: string[] = [];
    while (this.#peek()?.type === 'word' && !this.#atClauseKeyword()) {
      words.push(this.#peek()!.value.toUpperCase());
      this.#at += 1;
    }
    if (words.length === 0) this.#fail('a privilege or role');
    const name = words.join(' ');
    if (!PRIVILEGE_NAME.test(name)) this.#fail('a privilege name');
    return { kind: 'privilege', name, columns: this.#acceptPunct('(') ? this.#readColumns() : undefined };
  }

  #readColumns(): string[] {
    const columns: string[] = [];
    do columns.push(this.#name('a column name'));
    while (this.#acceptPunct(','));
    if (!this.#acceptPunct(')')) this.#fail('"," or ")" in a column list');
    return columns;
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
    return this.#acceptPunct('.') ? `${prefix}${database}.${this.#part()}` : `${prefix}${database}`;
  }

  #part(): string {
    return this.#acceptPunct('*') ? '*' : quoteIdentifier(this.#name('a database or table name'));
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
    if (!this.#acceptPunct('@')) this.#fail('"@" in the grantee');
    const host = this.#name('the grantee host');
    if (user !== account.user || host.toLowerCase() !== account.host.toLowerCase()) {
      throw new GrantParseError(`${this.#where}: the line names another account than ${account.user}`);
    }
  }

  restHas(first: string, second: string): boolean {
    const rest = this.#tokens.slice(this.#at);
    return rest.some((token, i) => isWord(token, first) && isWord(rest[i + 1], second));
  }
}
