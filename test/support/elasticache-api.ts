/**
 * The ElastiCache API's user calls for tests (no emulator exists), over a real redis-server: a
 * ModifyUser puts the user in `modifying`, and only after some DescribeUsers polls does the change
 * reach the server's ACL (`ACL SETUSER … resetpass >p1 >p2`) and the user become `active` again,
 * as on ElastiCache, where a new password works only once the user is active. Two front ends:
 * aws-sdk-client-mock for in-process tests, and a loopback HTTP server speaking the AWS Query
 * protocol for a fresh process (a deployed zip, a container the fault suite kills), reached through
 * `AWS_ENDPOINT_URL_ELASTICACHE`.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DescribeUsersCommand,
  ElastiCacheClient,
  InvalidUserStateFault,
  ModifyUserCommand,
  type User,
  UserNotFoundFault,
} from '@aws-sdk/client-elasticache';
import { mockClient } from 'aws-sdk-client-mock';
import type { RedisInstance } from './redis.ts';

interface FakeUser {
  readonly userId: string;
  readonly userName: string;
  type: 'password' | 'iam' | 'no-password';
  status: string;
  passwords: number;
  /** Passwords ModifyUser asked for, applied when the user becomes active. */
  queued: string[] | undefined;
  pollsLeft: number;
}

/** An API error as ElastiCache reports it (Query error code and HTTP status). */
class ApiError extends Error {
  readonly code: 'UserNotFound' | 'InvalidUserState';
  readonly status: number;

  constructor(code: ApiError['code'], status: number, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** The users of one fake ElastiCache account, over one redis-server. */
export class ElastiCacheUsers {
  readonly users = new Map<string, FakeUser>();
  /** ModifyUser calls, in order: the user and how many passwords it was given. */
  readonly modifications: Array<{ userId: string; passwords: number }> = [];
  /** DescribeUsers polls a ModifyUser takes to finish. */
  modifyingPolls = 2;
  /** A ModifyUser never finishes (the user stays `modifying`) while set. */
  stuck = false;
  readonly redis: RedisInstance;

  constructor(redis: RedisInstance) {
    this.redis = redis;
  }

  /** Creates the user on the server (ACL, with `rules`) and in the API. */
  async addUser(
    userId: string,
    userName: string,
    password: string,
    rules = ['~app:*', '+get'],
  ): Promise<void> {
    await this.redis.command(['ACL', 'SETUSER', userName, 'reset', 'on', `>${password}`, ...rules]);
    this.users.set(userId, {
      userId,
      userName,
      type: 'password',
      status: 'active',
      passwords: 1,
      queued: undefined,
      pollsLeft: 0,
    });
  }

  setType(userId: string, type: FakeUser['type']): void {
    this.#user(userId).type = type;
  }

  statusOf(userId: string): string | undefined {
    return this.users.get(userId)?.status;
  }

  async describe(userId: string | undefined): Promise<User> {
    const user = this.#user(userId);
    if (user.queued && !this.stuck && --user.pollsLeft <= 0) await this.#finish(user);
    return this.#view(user);
  }

  modify(userId: string | undefined, passwords: readonly string[]): User {
    const user = this.#user(userId);
    if (user.status !== 'active')
      throw new ApiError('InvalidUserState', 400, `User is in ${user.status} state`);
    this.modifications.push({ userId: user.userId, passwords: passwords.length });
    user.queued = [...passwords];
    user.status = 'modifying';
    user.pollsLeft = this.modifyingPolls;
    return this.#view(user);
  }

  #user(userId: string | undefined): FakeUser {
    const user = this.users.get(userId ?? '');
    if (!user) throw new ApiError('UserNotFound', 404, 'User not found');
    return user;
  }

  async #finish(user: FakeUser): Promise<void> {
    const passwords = user.queued ?? [];
    const reply = await this.redis.command([
      'ACL',
      'SETUSER',
      user.userName,
      'resetpass',
      ...passwords.map((password) => `>${password}`),
    ]);
    if (reply !== 'OK') throw new Error(`the fake API could not apply ModifyUser to ${user.userName}`);
    user.passwords = passwords.length;
    user.queued = undefined;
    user.status = 'active';
  }

  #view(user: FakeUser): User {
    return {
      UserId: user.userId,
      UserName: user.userName,
      Status: user.status,
      Engine: 'valkey',
      Authentication: { Type: user.type, PasswordCount: user.passwords },
      ARN: `arn:aws:elasticache:us-east-1:123456789012:user:${user.userId}`,
    };
  }
}

/**
 * Answers every ElastiCacheClient of this process from `users`; `restore()` puts the real client back.
 *
 * @example
 * ```ts
 * const mock = mockElastiCache(new ElastiCacheUsers(redis));
 * ```
 */
export function mockElastiCache(users: ElastiCacheUsers) {
  const mock = mockClient(ElastiCacheClient);
  const sdkError = (error: unknown) => {
    if (!(error instanceof ApiError)) return error;
    const Fault = error.code === 'UserNotFound' ? UserNotFoundFault : InvalidUserStateFault;
    return new Fault({ message: error.message, $metadata: { httpStatusCode: error.status } });
  };
  mock.on(DescribeUsersCommand).callsFake(async (input: { UserId?: string }) => {
    try {
      return { Users: [await users.describe(input.UserId)] };
    } catch (error) {
      throw sdkError(error);
    }
  });
  mock
    .on(ModifyUserCommand)
    .callsFake((input: { UserId?: string; AuthenticationMode?: { Passwords?: string[] } }) => {
      try {
        return users.modify(input.UserId, input.AuthenticationMode?.Passwords ?? []);
      } catch (error) {
        throw sdkError(error);
      }
    });
  return mock;
}

const xmlText = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function userXml(user: User): string {
  return [
    `<UserId>${xmlText(user.UserId ?? '')}</UserId>`,
    `<UserName>${xmlText(user.UserName ?? '')}</UserName>`,
    `<Status>${user.Status}</Status>`,
    `<Engine>${user.Engine}</Engine>`,
    `<Authentication><Type>${user.Authentication?.Type}</Type><PasswordCount>${user.Authentication?.PasswordCount}</PasswordCount></Authentication>`,
    `<ARN>${xmlText(user.ARN ?? '')}</ARN>`,
  ].join('');
}

/**
 * The same users behind a loopback HTTP endpoint speaking the Query protocol of DescribeUsers and
 * ModifyUser (signatures are not checked).
 *
 * @example
 * ```ts
 * const api = await startElastiCacheApi(users);
 * env.AWS_ENDPOINT_URL_ELASTICACHE = api.url;
 * ```
 */
export async function startElastiCacheApi(
  users: ElastiCacheUsers,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    request.on('end', () => {
      const form = new URLSearchParams(body);
      const action = form.get('Action') ?? '';
      const userId = form.get('UserId') ?? undefined;
      const reply = (status: number, xml: string) => {
        response.writeHead(status, { 'content-type': 'text/xml' });
        response.end(xml);
      };
      const answer = async (): Promise<string> => {
        if (action === 'DescribeUsers') {
          const user = await users.describe(userId);
          return `<DescribeUsersResult><Users><member>${userXml(user)}</member></Users></DescribeUsersResult>`;
        }
        if (action === 'ModifyUser') {
          const passwords = [...form.entries()]
            .filter(([name]) => /^AuthenticationMode\.Passwords\.member\.\d+$/.test(name))
            .map(([, value]) => value);
          return `<ModifyUserResult>${userXml(users.modify(userId, passwords))}</ModifyUserResult>`;
        }
        throw new ApiError('InvalidUserState', 400, `unsupported action ${action}`);
      };
      answer().then(
        (result) =>
          reply(
            200,
            `<${action}Response xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">${result}<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
          ),
        (error: unknown) => {
          const code = error instanceof ApiError ? error.code : 'InternalFailure';
          reply(
            error instanceof ApiError ? error.status : 500,
            `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlText((error as Error).message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
          );
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
