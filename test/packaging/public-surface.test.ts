import { describe, expect, it } from 'vitest';
import { entryPoints, exportedNames } from './support/entry-points.ts';

// Every name each package entry point exports, sorted. A name added or removed here is a decision
// about what users may rely on; what only the CLI needs lives in src/adapters/internal.ts.
const SURFACE: Record<string, string[]> = {
  'secrets-rotator': [
    'ConfigurationError',
    'type Env',
    'EventError',
    'type KnownVersions',
    'type NextContext',
    'type PasswordPolicy',
    'type PreflightFinding',
    'ProtocolStateError',
    'RotationError',
    'type RotationErrorKind',
    'type RotationEvent',
    'type RotationHandler',
    'type RotationHandlerOptions',
    'type RotationLogger',
    'type RotationMetrics',
    'type RotationStep',
    'type RotationTarget',
    'SecretShapeError',
    'SecretsManagerCallError',
    'type StepContext',
    'type TargetFailureCause',
    'TargetRefusedError',
    'TargetUnreachableError',
    'createRotationHandler',
  ],
  'secrets-rotator/adapters/elasticache': ['type ElastiCacheSecret', 'elastiCacheUser'],
  'secrets-rotator/adapters/http-api-key': [
    'type AddressLookup',
    'type ApiKeySecret',
    'type HttpApiKeyConfig',
    'type HttpApiKeyOptions',
    'httpApiKey',
  ],
  'secrets-rotator/adapters/mysql': [
    'type MysqlAlternatingUsersOptions',
    'type MysqlSecret',
    'type MysqlSingleUserOptions',
    'mysqlAlternatingUsers',
    'mysqlSingleUser',
  ],
  'secrets-rotator/adapters/oauth-client-secret': [
    'type AddressLookup',
    'type ApiKeySecret',
    'type OAuthClientSecretConfig',
    'type OAuthClientSecretOptions',
    'oauthClientSecret',
  ],
  'secrets-rotator/adapters/postgres': [
    'type PostgresAlternatingUsersOptions',
    'type PostgresSecret',
    'type PostgresSingleUserOptions',
    'postgresAlternatingUsers',
    'postgresSingleUser',
  ],
  'secrets-rotator/adapters/random-secret': [
    'type RandomSecretOptions',
    'type RandomSecretValue',
    'randomSecret',
  ],
  'secrets-rotator/adapters/redis': [
    'type RedisAlternatingUsersOptions',
    'type RedisSecret',
    'redisAlternatingUsers',
    'redisPasswordOverlap',
    'redisSingleUser',
  ],
  'secrets-rotator/adapters/ssh-keys': ['type SshKeySecret', 'sshKeys'],
  'secrets-rotator/client': [
    'type CachedSecret',
    'type ClientLogger',
    'type DatabaseSecret',
    'type DatabaseTlsOptions',
    'type GetSecretOptions',
    'type MysqlPoolConfig',
    'type MysqlPoolOptions',
    'type PgPoolConfig',
    'type PgPoolOptions',
    'RotatingMysqlPool',
    'RotatingPgPool',
    'type RotatingPoolStats',
    'SecretCache',
    'type SecretCacheOptions',
    'type SecretParser',
    'type SecretRefusal',
    'type StagingLabel',
    'type WithFreshSecretOptions',
    'createMysqlPool',
    'createPgPool',
    'isMysqlAuthError',
    'isPgAuthError',
    'parseDatabaseSecret',
    'withFreshSecret',
  ],
  'secrets-rotator/testing': [
    'AWSCURRENT',
    'AWSPENDING',
    'AWSPREVIOUS',
    'type ConvergenceResult',
    'type Fault',
    'type LocalSecretsManager',
    'type LocalSecretsManagerOptions',
    'type RecordedCall',
    'type RotateSecretOptions',
    'RotationFailedError',
    'RotationIncompleteError',
    'type RotationResult',
    'type StepResult',
    'retryUntilConverged',
    'rotateSecret',
    'startLocalSecretsManager',
  ],
};

describe('the public surface', () => {
  it('lists every package entry point', () => {
    expect([...entryPoints().keys()].sort()).toEqual(Object.keys(SURFACE).sort());
  });

  it.each([...entryPoints()])('%s exports exactly the listed names', async (name, file) => {
    expect(exportedNames(file)).toEqual(SURFACE[name]);
    // The values are what the module has at run time; the rest are types.
    const loaded: Record<string, unknown> = await import(/* @vite-ignore */ name);
    const values = (SURFACE[name] ?? []).filter((listed) => !listed.startsWith('type '));
    expect(Object.keys(loaded).sort()).toEqual([...values].sort());
  });

  it('keeps what the CLI uses of the adapters out of the package exports', () => {
    expect([...entryPoints().values()]).not.toContain('src/adapters/internal.ts');
    expect(exportedNames('src/adapters/internal.ts').length).toBeGreaterThan(0);
  });
});
