/**
 * What the Redis adapter's integration tests share: a private redis-server started from the
 * system's binary, next to the local Secrets Manager endpoint of {@link RotationRig}.
 */
import { type LocalSecretsManager, startLocalSecretsManager } from '../../../src/testing/index.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import { type RedisInstance, type StartRedisOptions, startRedis } from '../../support/redis.ts';
import { RotationRig, type StoredSecret } from '../../support/rotation-rig.ts';

export {
  type DirectContext,
  directContext,
  rejection,
  type StoredSecret,
  setupPassword,
} from '../../support/rotation-rig.ts';

/** The environment of the tests' handlers: plaintext on loopback, said explicitly. */
export const PLAINTEXT_ENV = { REDIS_TLS_MODE: 'disable' } as const;

/** One Redis server and one local Secrets Manager endpoint, shared by the tests of a file. */
export class Rig extends RotationRig {
  readonly redis: RedisInstance;

  private constructor(redis: RedisInstance, sm: LocalSecretsManager) {
    super(sm);
    this.redis = redis;
  }

  static async start(options: StartRedisOptions = {}): Promise<Rig> {
    const [redis, sm] = await Promise.all([startRedis(options), startLocalSecretsManager()]);
    trackSecrets(redis.admin.password);
    const rig = new Rig(redis, sm);
    rig.masterArn = await rig.createSecret('master', {
      username: redis.admin.username,
      password: redis.admin.password,
      host: redis.host,
      port: redis.port,
    });
    return rig;
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.redis.stop(), this.sm.close()]);
  }

  /** Creates (or redefines) an ACL user with one password and the given rules. */
  async createUser(
    name: string,
    password: string,
    rules: readonly string[] = ['~app:*', '+get', '+set'],
  ): Promise<void> {
    const reply = await this.redis.command(['ACL', 'SETUSER', name, 'reset', 'on', `>${password}`, ...rules]);
    if (reply !== 'OK') throw new Error(`could not create ACL user ${name}`);
  }

  /** The secret value of docs/protocol.md#the-database-secret for a user of this server. */
  secretFor(username: string, password: string, extra: Record<string, unknown> = {}): StoredSecret {
    return { engine: 'redis', host: this.redis.host, port: this.redis.port, username, password, ...extra };
  }

  canLogin(value: { username: string; password: string }): Promise<boolean> {
    return this.redis.canLogin(value.username, value.password);
  }
}
