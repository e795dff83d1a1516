/**
 * The ElastiCache API, answered by aws-sdk-client-mock (no emulator exists), in front of a real
 * redis-server: a ModifyUser call puts the user in `modifying`, and only after a few DescribeUsers
 * polls does the change reach the server (ACL SETUSER … resetpass >p1 >p2) and the user become
 * `active` again, as on ElastiCache, where a password works only once the user is active.
 */
import {
  DescribeUsersCommand,
  ElastiCacheClient,
  InvalidUserStateFault,
  ModifyUserCommand,
  type User,
  UserNotFoundFault,
} from '@aws-sdk/client-elasticache';
import { mockClient } from 'aws-sdk-client-mock';
import type { RedisInstance } from '../../support/redis.ts';

interface FakeUser {
  readonly userId: string;
  readonly userName: string;
  type: 'password' | 'iam' | 'no-password';
  status: string;
  passwords: string[];
  /** Passwords ModifyUser asked for, applied when the user becomes active. */
  queued: string[] | undefined;
  pollsLeft: number;
}

/** One fake API over one redis-server; {@link restore} puts the real client back. */
export class FakeElastiCacheApi {
  readonly mock = mockClient(ElastiCacheClient);
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
    this.mock.on(DescribeUsersCommand).callsFake(async (input: { UserId?: string }) => {
      const user = this.#user(input.UserId);
      if (user.queued && !this.stuck && --user.pollsLeft <= 0) await this.#finish(user);
      return { Users: [this.#describe(user)] };
    });
    this.mock
      .on(ModifyUserCommand)
      .callsFake((input: { UserId?: string; AuthenticationMode?: { Passwords?: string[] } }) => {
        const user = this.#user(input.UserId);
        if (user.status !== 'active') {
          throw new InvalidUserStateFault({ message: `User is in ${user.status} state`, $metadata: {} });
        }
        const passwords = input.AuthenticationMode?.Passwords ?? [];
        this.modifications.push({ userId: user.userId, passwords: passwords.length });
        user.queued = passwords;
        user.status = 'modifying';
        user.pollsLeft = this.modifyingPolls;
        return this.#describe(user);
      });
  }

  /** Creates the user on the server (ACL) and in the API. */
  async addUser(userId: string, userName: string, password: string): Promise<void> {
    await this.redis.command(['ACL', 'SETUSER', userName, 'reset', 'on', `>${password}`, '~app:*', '+get']);
    this.users.set(userId, {
      userId,
      userName,
      type: 'password',
      status: 'active',
      passwords: [password],
      queued: undefined,
      pollsLeft: 0,
    });
  }

  restore(): void {
    this.mock.restore();
  }

  #user(userId: string | undefined): FakeUser {
    const user = this.users.get(userId ?? '');
    if (!user) throw new UserNotFoundFault({ message: 'User not found', $metadata: {} });
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
    user.passwords = passwords;
    user.queued = undefined;
    user.status = 'active';
  }

  #describe(user: FakeUser): User {
    return {
      UserId: user.userId,
      UserName: user.userName,
      Status: user.status,
      Engine: 'valkey',
      Authentication: { Type: user.type, PasswordCount: user.passwords.length },
      ARN: `arn:aws:elasticache:us-east-1:123456789012:user:${user.userId}`,
    };
  }
}
