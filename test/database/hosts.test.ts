/**
 * The shared host rules: DATABASE_ALLOWED_HOSTS, and where master credentials may go, with the
 * RDS API answered by aws-sdk-client-mock (there is no RDS emulator): replica recognised, reader
 * endpoint, tags missing, instance not found, access denied, throttled.
 */
import {
  DBInstanceNotFoundFault,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  RDSServiceException,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  SecretShapeError,
  TargetRefusedError,
  TargetUnreachableError,
} from '../../src/core/errors.ts';
import type { RotationLogger } from '../../src/core/target.ts';
import {
  type MasterLocation,
  RDS_PRIMARY_CLUSTER_TAG,
  RDS_PRIMARY_INSTANCE_TAG,
  type RdsLookup,
  rdsResourceOfArn,
  rdsResourceOfHost,
  readDatabaseAllowedHosts,
  refuseUnlistedHost,
  requireMasterServer,
  sameServer,
} from '../../src/database/hosts.ts';
import type { RdsResource } from '../../src/database/rds-client.ts';

const MASTER_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf';
const INSTANCE_ARN = 'arn:aws:rds:eu-west-1:123456789012:db:orders';
const CLUSTER_ARN = 'arn:aws:rds:eu-west-1:123456789012:cluster:orders-cluster';
const PRIMARY = 'orders.c9akciq32.eu-west-1.rds.amazonaws.com';
const REPLICA = 'orders-replica.c9akciq32.eu-west-1.rds.amazonaws.com';
const WRITER = 'orders-cluster.cluster-c9akciq32.eu-west-1.rds.amazonaws.com';
const READER = 'orders-cluster.cluster-ro-c9akciq32.eu-west-1.rds.amazonaws.com';

const silent: RotationLogger = { debug() {}, info() {}, warn() {}, error() {} };

function context(tags: Record<string, string> = {}) {
  const asked: string[] = [];
  return {
    asked,
    ctx: {
      logger: silent,
      readSecretTags: async (secretId: string) => {
        asked.push(secretId);
        return new Map(Object.entries(tags));
      },
    },
  };
}

function master(host: string | undefined, port?: number): MasterLocation {
  return { host, port };
}

/** What a refusal says, or a failure of the test when nothing was refused. */
async function refusal(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the master credentials to be refused');
}

describe('DATABASE_ALLOWED_HOSTS', () => {
  it('is unset by default: every host allowed', () => {
    const allowed = readDatabaseAllowedHosts({});
    expect(allowed).toBeUndefined();
    expect(() => refuseUnlistedHost('anything.example.com', allowed)).not.toThrow();
  });

  it('allows exact names and *.suffix patterns, refusing anything else with the variable named', () => {
    const allowed = readDatabaseAllowedHosts({ DATABASE_ALLOWED_HOSTS: 'db.internal, *.rds.amazonaws.com' });
    expect(() => refuseUnlistedHost('DB.internal.', allowed)).not.toThrow();
    expect(() => refuseUnlistedHost(PRIMARY, allowed)).not.toThrow();
    const error = (() => {
      try {
        refuseUnlistedHost('attacker.example.net', allowed);
      } catch (caught) {
        return caught as SecretShapeError;
      }
      throw new Error('expected a refusal');
    })();
    expect(error).toBeInstanceOf(SecretShapeError);
    expect(error.field).toBe('host');
    expect(error.message).toContain('"attacker.example.net"');
    expect(error.message).toContain('DATABASE_ALLOWED_HOSTS');
    expect(error.message).toContain('no credentials were sent');
  });

  it('rejects a malformed list at start-up, naming the variable', () => {
    expect(() => readDatabaseAllowedHosts({ DATABASE_ALLOWED_HOSTS: '*.com' })).toThrow(ConfigurationError);
    expect(() => readDatabaseAllowedHosts({ DATABASE_ALLOWED_HOSTS: 'a b' })).toThrow(
      /^DATABASE_ALLOWED_HOSTS /,
    );
  });
});

describe('RDS names', () => {
  it('reads an instance or cluster (writer) endpoint, and nothing from other hosts', () => {
    expect(rdsResourceOfHost(PRIMARY)).toEqual({ kind: 'instance', id: 'orders', region: 'eu-west-1' });
    expect(rdsResourceOfHost(`${WRITER}.`)).toEqual({
      kind: 'cluster',
      id: 'orders-cluster',
      region: 'eu-west-1',
    });
    expect(rdsResourceOfHost(READER)).toBeUndefined();
    expect(rdsResourceOfHost('orders.c9akciq32.eu-west-1.rds.amazonaws.com.attacker.net')).toBeUndefined();
    expect(rdsResourceOfHost('127.0.0.1')).toBeUndefined();
  });

  it('reads instance and cluster ARNs', () => {
    expect(rdsResourceOfArn(INSTANCE_ARN)).toMatchObject({ kind: 'instance', id: 'orders' });
    expect(rdsResourceOfArn(CLUSTER_ARN)).toMatchObject({ kind: 'cluster', id: 'orders-cluster' });
    expect(rdsResourceOfArn('arn:aws:rds:eu-west-1:123456789012:snapshot:x')).toBeUndefined();
  });

  it('compares servers by host and port', () => {
    expect(sameServer({ host: 'DB.x.', port: 5432 }, { host: 'db.x', port: 5432 })).toBe(true);
    expect(sameServer({ host: 'db.x', port: 5432 }, { host: 'db.x', port: 6432 })).toBe(false);
  });
});

describe('master credentials go only to the master server', () => {
  const noRds: RdsLookup = async () => {
    throw new Error('RDS must not be asked');
  };

  it("lets them through to the master secret's own host and port, asking nothing else", async () => {
    const { ctx, asked } = context();
    const verdict = await requireMasterServer(ctx, {
      masterArn: MASTER_ARN,
      master: master('db.internal', 5432),
      target: { host: 'DB.Internal.', port: 5432 },
      defaultPort: 5432,
      rdsLookup: noRds,
    });
    expect(verdict).toEqual({ via: 'own server' });
    expect(asked).toEqual([]);
  });

  it('uses the engine default port when the master secret has none', async () => {
    const { ctx } = context();
    await expect(
      requireMasterServer(ctx, {
        masterArn: MASTER_ARN,
        master: master('db.internal'),
        target: { host: 'db.internal', port: 3306 },
        defaultPort: 3306,
        rdsLookup: noRds,
      }),
    ).resolves.toEqual({ via: 'own server' });
  });

  it('refuses another host, naming both servers and never asking RDS about a non-RDS host', async () => {
    const { ctx } = context();
    const error = await refusal(
      requireMasterServer(ctx, {
        masterArn: MASTER_ARN,
        master: master('db.internal', 5432),
        target: { host: 'attacker.example.net', port: 5432 },
        defaultPort: 5432,
        rdsLookup: noRds,
      }),
    );
    expect(error).toBeInstanceOf(SecretShapeError);
    expect(error.message).toContain('attacker.example.net:5432');
    expect(error.message).toContain('db.internal:5432');
    expect(error.message).toContain('were not sent');
  });

  it('refuses the same host on another port', async () => {
    const { ctx } = context();
    const error = await refusal(
      requireMasterServer(ctx, {
        masterArn: MASTER_ARN,
        master: master('127.0.0.1', 5432),
        target: { host: '127.0.0.1', port: 6543 },
        defaultPort: 5432,
        rdsLookup: noRds,
      }),
    );
    expect(error.message).toContain('127.0.0.1:6543');
    expect(error.message).toContain('127.0.0.1:5432');
  });

  it('tags missing: a master secret with neither host nor RDS tag is refused, saying what to set', async () => {
    const { ctx, asked } = context();
    const error = await refusal(
      requireMasterServer(ctx, {
        masterArn: MASTER_ARN,
        master: master(undefined),
        target: { host: 'db.internal', port: 5432 },
        defaultPort: 5432,
        rdsLookup: noRds,
      }),
    );
    expect(asked).toEqual([MASTER_ARN]);
    expect(error).toBeInstanceOf(SecretShapeError);
    expect((error as SecretShapeError).field).toBe('masterarn');
    expect(error.message).toContain(RDS_PRIMARY_INSTANCE_TAG);
    expect(error.message).toContain('store "host" and "port"');
  });

  it('RDS-managed master: the server comes from the tag, never from the rotated secret', async () => {
    const { ctx } = context({ [RDS_PRIMARY_INSTANCE_TAG]: INSTANCE_ARN });
    const seen: RdsResource[] = [];
    const lookup: RdsLookup = async (resource) => {
      seen.push(resource);
      return [
        { host: PRIMARY, port: 5432, role: 'instance' },
        { host: REPLICA, port: 5432, role: 'read replica' },
      ];
    };
    const rule = { masterArn: MASTER_ARN, master: master(undefined), defaultPort: 5432, rdsLookup: lookup };
    await expect(
      requireMasterServer(ctx, { ...rule, target: { host: PRIMARY, port: 5432 } }),
    ).resolves.toEqual({ via: 'rds', resource: 'instance orders', role: 'instance' });
    await expect(
      requireMasterServer(ctx, { ...rule, target: { host: REPLICA, port: 5432 } }),
    ).resolves.toEqual({ via: 'rds', resource: 'instance orders', role: 'read replica' });
    const error = await refusal(
      requireMasterServer(ctx, { ...rule, target: { host: '127.0.0.1', port: 5432 } }),
    );
    expect(error.message).toContain('127.0.0.1:5432');
    expect(error.message).toContain('RDS instance orders');
    expect(seen[0]).toMatchObject({ kind: 'instance', id: 'orders', arn: INSTANCE_ARN });
  });

  it('a master named by an RDS host must be that resource, not a namesake', async () => {
    const { ctx } = context();
    const lookup: RdsLookup = async () => [
      { host: 'orders.other.eu-west-1.rds.amazonaws.com', port: 5432, role: 'instance' },
    ];
    const error = await refusal(
      requireMasterServer(ctx, {
        masterArn: MASTER_ARN,
        master: master(PRIMARY, 5432),
        target: { host: REPLICA, port: 5432 },
        defaultPort: 5432,
        rdsLookup: lookup,
      }),
    );
    expect(error.message).toContain('does not report');
  });
});

describe('the RDS API (aws-sdk-client-mock)', () => {
  const rds = mockClient(RDSClient);
  afterEach(() => rds.reset());

  const rule = (target: string, tags: Record<string, string>, host?: string) => ({
    ctx: context(tags).ctx,
    rule: {
      masterArn: MASTER_ARN,
      master: master(host, host ? 5432 : undefined),
      target: { host: target, port: 5432 },
      defaultPort: 5432,
    },
  });

  it('replica recognised: an instance master used on its read replica', async () => {
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders' })
      .resolves({
        DBInstances: [
          {
            Endpoint: { Address: PRIMARY, Port: 5432 },
            ReadReplicaDBInstanceIdentifiers: ['orders-replica'],
          },
        ],
      })
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-replica' })
      .resolves({ DBInstances: [{ Endpoint: { Address: REPLICA, Port: 5432 } }] });
    const { ctx, rule: r } = rule(REPLICA, {}, PRIMARY);
    await expect(requireMasterServer(ctx, r)).resolves.toMatchObject({ via: 'rds', role: 'read replica' });
    expect(rds.commandCalls(DescribeDBInstancesCommand).length).toBe(2);
  });

  it('reader endpoint: an Aurora master (by tag) used on the cluster reader endpoint and members', async () => {
    rds
      .on(DescribeDBClustersCommand)
      .resolves({
        DBClusters: [
          {
            Endpoint: WRITER,
            ReaderEndpoint: READER,
            Port: 5432,
            DBClusterMembers: [{ DBInstanceIdentifier: 'orders-cluster-1', IsClusterWriter: false }],
          },
        ],
      })
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-cluster-1' })
      .resolves({
        DBInstances: [
          { Endpoint: { Address: 'orders-cluster-1.c9akciq32.eu-west-1.rds.amazonaws.com', Port: 5432 } },
        ],
      });
    const tags = { [RDS_PRIMARY_CLUSTER_TAG]: CLUSTER_ARN };
    const reader = rule(READER, tags);
    await expect(requireMasterServer(reader.ctx, reader.rule)).resolves.toMatchObject({
      role: 'cluster reader endpoint',
    });
    expect(rds.commandCalls(DescribeDBClustersCommand)[0]!.args[0].input).toEqual({
      DBClusterIdentifier: CLUSTER_ARN,
    });
    const member = rule('orders-cluster-1.c9akciq32.eu-west-1.rds.amazonaws.com', tags);
    await expect(requireMasterServer(member.ctx, member.rule)).resolves.toMatchObject({
      role: 'cluster reader instance',
    });
    const elsewhere = rule('attacker.example.net', tags);
    const error = await refusal(requireMasterServer(elsewhere.ctx, elsewhere.rule));
    expect(error.message).toContain(
      'RDS reports no replica, reader or cluster member of cluster orders-cluster',
    );
  });

  it('instance not found: the tag names an instance RDS does not know', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .rejects(new DBInstanceNotFoundFault({ message: 'DBInstance orders not found.', $metadata: {} }));
    const { ctx, rule: r } = rule(PRIMARY, { [RDS_PRIMARY_INSTANCE_TAG]: INSTANCE_ARN });
    const error = await refusal(requireMasterServer(ctx, r));
    expect(error).toBeInstanceOf(SecretShapeError);
    expect((error as SecretShapeError).field).toBe('masterarn');
    expect(error.message).toContain('does not exist');
  });

  it('access denied: names the IAM actions to grant', async () => {
    rds.on(DescribeDBInstancesCommand).rejects(
      new RDSServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        message: 'User is not authorized to perform: rds:DescribeDBInstances',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    const { ctx, rule: r } = rule(REPLICA, {}, PRIMARY);
    const error = await refusal(requireMasterServer(ctx, r));
    expect(error).toBeInstanceOf(TargetRefusedError);
    expect((error as TargetRefusedError).failure).toBe('permission');
    expect(error.message).toContain('rds:DescribeDBInstances');
    expect(error.message).toContain('were not used');
  });

  it('throttled: a transient failure, with the master credentials unused', async () => {
    const throttled = new RDSServiceException({
      name: 'Throttling',
      $fault: 'client',
      message: 'Rate exceeded',
      $metadata: { httpStatusCode: 400 },
    });
    rds.on(DescribeDBClustersCommand).rejects(throttled);
    const { ctx, rule: r } = rule(READER, { [RDS_PRIMARY_CLUSTER_TAG]: CLUSTER_ARN });
    const error = await refusal(requireMasterServer(ctx, r));
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect(error.message).toContain('throttled');
    expect(error.message).toContain('were not used');
  });
});
