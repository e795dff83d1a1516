/**
 * RDS API calls of the master rule (hosts.ts), imported lazily so @aws-sdk/client-rds costs nothing
 * elsewhere.
 */
import {
  type DBCluster,
  type DBInstance,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { SecretShapeError, TargetRefusedError, TargetUnreachableError } from '../core/errors.ts';

export interface RdsResource {
  readonly kind: 'instance' | 'cluster';
  readonly id: string;
  readonly region: string;
  readonly arn?: string;
}

export interface RdsEndpoint {
  readonly host: string;
  readonly port: number;
  readonly role: string;
}

export const RDS_ACTIONS = ['rds:DescribeDBInstances', 'rds:DescribeDBClusters'] as const;

const clients = new Map<string, RDSClient>();

function clientFor(region: string): RDSClient {
  const client = clients.get(region) ?? new RDSClient({ region, maxAttempts: 3 });
  clients.set(region, client);
  return client;
}

export async function rdsEndpoints(resource: RdsResource): Promise<RdsEndpoint[]> {
  const endpoints: RdsEndpoint[] = [];
  if (resource.kind === 'instance') {
    const instance = await describeInstance(resource, resource.arn ?? resource.id);
    addInstance(endpoints, instance, 'instance');
    for (const replica of instance.ReadReplicaDBInstanceIdentifiers ?? []) {
      addInstance(endpoints, await describeInstance(resource, replica), 'read replica');
    }
    if (instance.DBClusterIdentifier) {
      await addCluster(endpoints, resource, instance.DBClusterIdentifier);
    }
  } else {
    await addCluster(endpoints, resource, resource.arn ?? resource.id);
  }
  return endpoints;
}

function addInstance(endpoints: RdsEndpoint[], instance: DBInstance, role: string): void {
  const address = instance.Endpoint?.Address;
  const port = instance.Endpoint?.Port;
  if (address && port) endpoints.push({ host: address, port, role });
}

async function addCluster(endpoints: RdsEndpoint[], resource: RdsResource, id: string): Promise<void> {
  const cluster = await describeCluster(resource, id);
  const port = cluster.Port;
  if (port === undefined) return;
  if (cluster.Endpoint) endpoints.push({ host: cluster.Endpoint, port, role: 'cluster writer endpoint' });
  if (cluster.ReaderEndpoint) {
    endpoints.push({ host: cluster.ReaderEndpoint, port, role: 'cluster reader endpoint' });
  }
  for (const custom of cluster.CustomEndpoints ?? []) {
    endpoints.push({ host: custom, port, role: 'cluster custom endpoint' });
  }
  for (const member of cluster.DBClusterMembers ?? []) {
    if (!member.DBInstanceIdentifier) continue;
    const role = member.IsClusterWriter ? 'cluster writer instance' : 'cluster reader instance';
    addInstance(endpoints, await describeInstance(resource, member.DBInstanceIdentifier), role);
  }
}

async function describeInstance(resource: RdsResource, id: string): Promise<DBInstance> {
  const answer = await call(resource, 'DescribeDBInstances', id, () =>
    clientFor(regionOf(id, resource.region)).send(
      new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }),
    ),
  );
  const instance = answer.DBInstances?.[0];
  if (!instance) throw notFound(resource, 'instance', id);
  return instance;
}

async function describeCluster(resource: RdsResource, id: string): Promise<DBCluster> {
  const answer = await call(resource, 'DescribeDBClusters', id, () =>
    clientFor(regionOf(id, resource.region)).send(new DescribeDBClustersCommand({ DBClusterIdentifier: id })),
  );
  const cluster = answer.DBClusters?.[0];
  if (!cluster) throw notFound(resource, 'cluster', id);
  return cluster;
}

/** A replica named by ARN may live in another region. */
function regionOf(idOrArn: string, fallback: string): string {
  return /^arn:aws[a-z-]*:rds:([a-z0-9-]+):/.exec(idOrArn)?.[1] ?? fallback;
}

function notFound(resource: RdsResource, kind: string, id: string): SecretShapeError {
  const source = resource.arn ? `the master secret's RDS tag (${resource.arn})` : "the master secret's host";
  return new SecretShapeError(
    'masterarn',
    `leads, through ${source}, to the RDS ${kind} "${id}", which RDS reports does not exist in ${regionOf(id, resource.region)}`,
    'point masterarn at the master secret of the database this secret belongs to',
  );
}

async function call<T>(
  resource: RdsResource,
  operation: string,
  id: string,
  send: () => Promise<T>,
): Promise<T> {
  try {
    return await send();
  } catch (error) {
    const name = error instanceof Error ? error.name : 'unknown';
    if (name === 'DBInstanceNotFoundFault' || name === 'DBInstanceNotFound') {
      throw notFound(resource, 'instance', id);
    }
    if (name === 'DBClusterNotFoundFault' || name === 'DBClusterNotFound') {
      throw notFound(resource, 'cluster', id);
    }
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (
      name === 'AccessDenied' ||
      name === 'AccessDeniedException' ||
      name === 'UnauthorizedOperation' ||
      status === 403
    ) {
      throw new TargetRefusedError(
        'permission',
        `RDS ${operation} for "${id}" was denied (${name}); the master rule needs ${RDS_ACTIONS.join(' and ')} on the master's instance or cluster and its replicas (deploy/ grants them); the master credentials were not used`,
      );
    }
    const throttled =
      (error as { $retryable?: { throttling?: boolean } }).$retryable?.throttling === true ||
      /Throttl|RequestLimitExceeded|TooManyRequests/.test(name);
    if (throttled) {
      throw new TargetUnreachableError(
        'network',
        `RDS ${operation} for "${id}" was throttled (${name}) after retries; the master credentials were not used. Secrets Manager retries the step; if it keeps failing, ask for a higher RDS API rate`,
      );
    }
    throw new TargetUnreachableError(
      'network',
      `RDS ${operation} for "${id}" failed (${name}); the master credentials were not used`,
    );
  }
}
