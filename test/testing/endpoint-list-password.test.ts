/**
 * ListSecrets (pagination, filters, sorting) and GetRandomPassword (every option) on the local
 * endpoint, through the real SDK client (docs/protocol.md#the-local-endpoint).
 */
import {
  CreateSecretCommand,
  GetRandomPasswordCommand,
  type GetRandomPasswordCommandInput,
  InvalidParameterException,
  ListSecretsCommand,
  type ListSecretsCommandInput,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHARACTER_CLASSES } from '../../src/core/password.ts';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../src/testing/index.ts';
import { manualClock, rejection } from './fake-rotator.ts';

const clock = manualClock('2030-05-01T00:00:00.000Z');
let local: LocalSecretsManager;
let client: SecretsManagerClient;

beforeAll(async () => {
  local = await startLocalSecretsManager({ clock: clock.now });
  client = local.client();
  const secrets = [
    { Name: 'prod/db/orders', Description: 'Orders database', Tags: [{ Key: 'team', Value: 'payments' }] },
    { Name: 'prod/db/users', Description: 'users DATABASE', Tags: [{ Key: 'team', Value: 'identity' }] },
    { Name: 'prod/api/stripe', Description: 'Stripe key', Tags: [{ Key: 'vendor', Value: 'stripe' }] },
    {
      Name: 'dev/db/orders',
      Description: 'orders for development',
      Tags: [{ Key: 'team', Value: 'payments' }],
    },
    { Name: 'Prod/legacy', Description: 'legacy secret' },
  ];
  for (const secret of secrets) {
    await client.send(new CreateSecretCommand({ ...secret, SecretString: 'listed-secret-value' }));
    clock.advance(60_000);
  }
});
afterAll(async () => {
  await local?.close();
});

async function names(input: ListSecretsCommandInput): Promise<string[]> {
  const answer = await client.send(new ListSecretsCommand(input));
  return (answer.SecretList ?? []).map((secret) => secret.Name!);
}

describe('ListSecrets', () => {
  it('pages through every secret exactly once with MaxResults and NextToken', async () => {
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await client.send(new ListSecretsCommand({ MaxResults: 2, NextToken: nextToken }));
      expect(page.SecretList!.length).toBeLessThanOrEqual(2);
      seen.push(...page.SecretList!.map((secret) => secret.Name!));
      nextToken = page.NextToken;
      pages += 1;
    } while (nextToken);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual([
      'Prod/legacy',
      'dev/db/orders',
      'prod/api/stripe',
      'prod/db/orders',
      'prod/db/users',
    ]);
  });

  it('refuses a NextToken it did not issue', async () => {
    const error = await rejection(client.send(new ListSecretsCommand({ NextToken: 'not-a-token' })));
    expect(error.name).toBe('InvalidNextTokenException');
  });

  it('lists newest first by default, oldest first with SortOrder asc, and by name with SortBy', async () => {
    expect(await names({})).toEqual([
      'Prod/legacy',
      'dev/db/orders',
      'prod/api/stripe',
      'prod/db/users',
      'prod/db/orders',
    ]);
    expect(await names({ SortOrder: 'asc' })).toEqual([
      'prod/db/orders',
      'prod/db/users',
      'prod/api/stripe',
      'dev/db/orders',
      'Prod/legacy',
    ]);
    expect(await names({ SortBy: 'name', SortOrder: 'asc' })).toEqual([
      'Prod/legacy',
      'dev/db/orders',
      'prod/api/stripe',
      'prod/db/orders',
      'prod/db/users',
    ]);
  });

  it('filters by name prefix, case-sensitively', async () => {
    expect((await names({ Filters: [{ Key: 'name', Values: ['prod/db'] }] })).sort()).toEqual([
      'prod/db/orders',
      'prod/db/users',
    ]);
    expect(await names({ Filters: [{ Key: 'name', Values: ['Prod'] }] })).toEqual(['Prod/legacy']);
  });

  it('filters by description prefix, not case-sensitively', async () => {
    expect((await names({ Filters: [{ Key: 'description', Values: ['orders'] }] })).sort()).toEqual([
      'dev/db/orders',
      'prod/db/orders',
    ]);
    expect(await names({ Filters: [{ Key: 'description', Values: ['USERS'] }] })).toEqual(['prod/db/users']);
  });

  it('filters by tag key and tag value, with alternatives, negation and several filters together', async () => {
    expect((await names({ Filters: [{ Key: 'tag-key', Values: ['vend'] }] })).sort()).toEqual([
      'prod/api/stripe',
    ]);
    expect(
      (await names({ Filters: [{ Key: 'tag-value', Values: ['payments', 'identity'] }] })).sort(),
    ).toEqual(['dev/db/orders', 'prod/db/orders', 'prod/db/users']);
    expect(
      (
        await names({
          Filters: [
            { Key: 'tag-value', Values: ['payments'] },
            { Key: 'name', Values: ['!dev'] },
          ],
        })
      ).sort(),
    ).toEqual(['prod/db/orders']);
  });

  it('searches every attribute by word with the "all" filter', async () => {
    expect((await names({ Filters: [{ Key: 'all', Values: ['stripe'] }] })).sort()).toEqual([
      'prod/api/stripe',
    ]);
    expect((await names({ Filters: [{ Key: 'all', Values: ['LEGACY'] }] })).sort()).toEqual(['Prod/legacy']);
    expect((await names({ Filters: [{ Key: 'all', Values: ['identity'] }] })).sort()).toEqual([
      'prod/db/users',
    ]);
  });

  it('reports versions and dates for each entry, and refuses an unknown filter key', async () => {
    const [entry] = (
      await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['prod/api'] }] }))
    ).SecretList!;
    expect(entry?.CreatedDate).toEqual(new Date('2030-05-01T00:02:00.000Z'));
    expect(Object.values(entry?.SecretVersionsToStages ?? {})).toEqual([['AWSCURRENT']]);
    const error = await rejection(
      client.send(new ListSecretsCommand({ Filters: [{ Key: 'colour' as 'name', Values: ['x'] }] })),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain('Filters[0].Key');
  });

  it('refuses an unknown SortOrder or SortBy, naming the accepted values', async () => {
    const order = await rejection(client.send(new ListSecretsCommand({ SortOrder: 'up' as 'asc' })));
    expect(order.name).toBe('ValidationException');
    expect(order.message).toBe('1 validation error detected: SortOrder must be asc or desc, got up');
    for (const sortBy of ['size', 'constructor']) {
      const error = await rejection(client.send(new ListSecretsCommand({ SortBy: sortBy as 'name' })));
      expect(error.name).toBe('ValidationException');
      expect(error.message).toBe(
        `1 validation error detected: SortBy must be one of created-date, last-changed-date, last-accessed-date, name, got ${sortBy}`,
      );
    }
  });
});

async function passwords(input: GetRandomPasswordCommandInput, count: number): Promise<string[]> {
  const result: string[] = [];
  for (let i = 0; i < count; i++) {
    result.push((await client.send(new GetRandomPasswordCommand(input))).RandomPassword!);
  }
  return result;
}

const { lowercase, uppercase, numbers, punctuation } = CHARACTER_CLASSES;
const hasAny = (password: string, chars: string) => [...password].some((c) => chars.includes(c));

describe('GetRandomPassword', () => {
  it('defaults to 32 characters with every class present and no space', async () => {
    for (const password of await passwords({}, 20)) {
      expect(password).toHaveLength(32);
      for (const chars of [lowercase, uppercase, numbers, punctuation])
        expect(hasAny(password, chars)).toBe(true);
      expect(password).not.toContain(' ');
    }
  });

  it('honours PasswordLength and ExcludeCharacters', async () => {
    for (const password of await passwords(
      { PasswordLength: 64, ExcludeCharacters: 'abcXYZ012:/@"\'\\' },
      20,
    )) {
      expect(password).toHaveLength(64);
      expect(hasAny(password, 'abcXYZ012:/@"\'\\')).toBe(false);
    }
  });

  it('honours each Exclude* flag', async () => {
    const cases: Array<[GetRandomPasswordCommandInput, string]> = [
      [{ ExcludeNumbers: true }, numbers],
      [{ ExcludePunctuation: true }, punctuation],
      [{ ExcludeUppercase: true }, uppercase],
      [{ ExcludeLowercase: true }, lowercase],
    ];
    for (const [input, excluded] of cases) {
      for (const password of await passwords(input, 10)) expect(hasAny(password, excluded)).toBe(false);
    }
  });

  it('includes the space with IncludeSpace and RequireEachIncludedType', async () => {
    for (const password of await passwords({ IncludeSpace: true, PasswordLength: 8 }, 10)) {
      expect(password).toContain(' ');
    }
  });

  it('guarantees every included class even in short passwords, and not without RequireEachIncludedType', async () => {
    for (const password of await passwords({ PasswordLength: 4 }, 30)) {
      for (const chars of [lowercase, uppercase, numbers, punctuation])
        expect(hasAny(password, chars)).toBe(true);
    }
    // Without the requirement, 4-character passwords from 94 characters miss a class most of the time.
    const loose = await passwords({ PasswordLength: 4, RequireEachIncludedType: false }, 30);
    expect(
      loose.some((password) =>
        [lowercase, uppercase, numbers, punctuation].some((chars) => !hasAny(password, chars)),
      ),
    ).toBe(true);
  });

  it('refuses impossible or out-of-range options with InvalidParameterException', async () => {
    const invalid: GetRandomPasswordCommandInput[] = [
      { PasswordLength: 0 },
      { PasswordLength: 4097 },
      { ExcludeLowercase: true, ExcludeUppercase: true, ExcludeNumbers: true, ExcludePunctuation: true },
      { PasswordLength: 3 },
      {
        ExcludeNumbers: true,
        ExcludePunctuation: true,
        ExcludeUppercase: true,
        ExcludeCharacters: lowercase,
      },
    ];
    for (const input of invalid) {
      const error = await rejection(client.send(new GetRandomPasswordCommand(input)));
      expect(error).toBeInstanceOf(InvalidParameterException);
    }
    const short = await rejection(client.send(new GetRandomPasswordCommand({ PasswordLength: 3 })));
    expect(short.message).toContain('PasswordLength');
  });
});
