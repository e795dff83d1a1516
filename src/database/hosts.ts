/**
 * Where a database credential may go: DATABASE_ALLOWED_HOSTS, and master credentials only to the master's
 * server or one RDS reports as part of it. Both run before any connection.
 */
import { type HostAllowlist, normalizeHost, parseHostAllowlist } from '../core/allowed-hosts.ts';
import { type Env, envString } from '../core/config.ts';
import { SecretShapeError } from '../core/errors.ts';
import type { StepContext } from '../core/target.ts';
import type { RdsEndpoint, RdsResource } from './rds-client.ts';

const DATABASE_ALLOWED_HOSTS = 'DATABASE_ALLOWED_HOSTS';

export function readDatabaseAllowedHosts(env: Env): HostAllowlist | undefined {
  return parseHostAllowlist(DATABASE_ALLOWED_HOSTS, envString(env, DATABASE_ALLOWED_HOSTS));
}

export function refuseUnlistedHost(host: string, allowed: HostAllowlist | undefined, field = 'host'): void {
  if (allowed === undefined || allowed.allows(host)) return;
  throw new SecretShapeError(
    field,
    `is "${host.slice(0, 255)}", which ${allowed.variable} does not list (${allowed.entries.join(', ')}), so no credentials were sent to it`,
    `point the secret at a listed database host, or have the deployer add the host to ${allowed.variable}`,
  );
}

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

export function sameHost(a: string, b: string): boolean {
  return normalizeHost(a) === normalizeHost(b);
}

/** Same port too: credentials checked on one server prove nothing on another on the same host. */
export function sameServer(a: ServerAddress, b: ServerAddress): boolean {
  return sameHost(a.host, b.host) && a.port === b.port;
}

export function describeServer(server: ServerAddress): string {
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return `${host.slice(0, 255)}:${server.port}`;
}

/** Tags on an RDS-managed master secret naming its DB instance or Aurora cluster. */
export const RDS_PRIMARY_INSTANCE_TAG = 'aws:rds:primaryDBInstanceArn';

export const RDS_PRIMARY_CLUSTER_TAG = 'aws:rds:primaryDBClusterArn';

export interface MasterLocation {
  readonly host: string | undefined;
  readonly port: number | undefined;
}

export type RdsLookup = (resource: RdsResource) => Promise<readonly RdsEndpoint[]>;

// Instance and cluster-writer endpoint forms; reader and custom endpoints name no master.
const RDS_ENDPOINT =
  /^([a-z][a-z0-9-]{0,62})\.(cluster-)?[a-z0-9]+\.([a-z]{2}(?:-[a-z]+)+-\d)\.rds\.amazonaws\.com(?:\.cn)?$/;

export function rdsResourceOfHost(host: string): RdsResource | undefined {
  const match = RDS_ENDPOINT.exec(normalizeHost(host));
  if (!match) return undefined;
  return { kind: match[2] ? 'cluster' : 'instance', id: match[1]!, region: match[3]! };
}

export function rdsResourceOfArn(arn: string): RdsResource | undefined {
  const match = /^arn:aws[a-z-]*:rds:([a-z0-9-]+):\d{12}:(db|cluster):([A-Za-z0-9-]+)$/.exec(arn);
  if (!match) return undefined;
  return { kind: match[2] === 'db' ? 'instance' : 'cluster', id: match[3]!, region: match[1]!, arn };
}

interface MasterServerRule {
  readonly masterArn: string;
  readonly master: MasterLocation;
  readonly target: ServerAddress;
  readonly defaultPort: number;
  readonly rdsLookup?: RdsLookup;
}

type MasterServerVerdict =
  | { readonly via: 'own server' }
  | { readonly via: 'rds'; readonly resource: string; readonly role: string };

function taggedResource(masterArn: string, taggedArn: string): RdsResource {
  const resource = rdsResourceOfArn(taggedArn);
  if (resource) return resource;
  throw new SecretShapeError(
    'masterarn',
    `names secret ${masterArn}, whose RDS tag holds "${taggedArn.slice(0, 200)}", which is not an RDS instance or cluster ARN`,
    'let RDS manage the tag (ManageMasterUserPassword), or remove it and store "host" and "port" in the master secret',
  );
}

/** An RDS-managed master secret is located by its tags, never through the rotated secret. */
export async function requireMasterServer(
  ctx: Pick<StepContext, 'readSecretTags' | 'logger'>,
  rule: MasterServerRule,
): Promise<MasterServerVerdict> {
  const { masterArn, target } = rule;
  const own: ServerAddress | undefined =
    rule.master.host === undefined
      ? undefined
      : { host: rule.master.host, port: rule.master.port ?? rule.defaultPort };
  if (own && sameServer(own, target)) return { via: 'own server' };

  const tags = await ctx.readSecretTags(masterArn);
  const taggedArn = tags.get(RDS_PRIMARY_CLUSTER_TAG) ?? tags.get(RDS_PRIMARY_INSTANCE_TAG);
  if (taggedArn === undefined && !own) {
    throw new SecretShapeError(
      'masterarn',
      `names secret ${masterArn}, which has no "host" and no ${RDS_PRIMARY_INSTANCE_TAG} or ${RDS_PRIMARY_CLUSTER_TAG} tag, so nothing says which server its credentials belong to; they were not sent to ${describeServer(target)}`,
      'store "host" and "port" (the master\'s own server) in the master secret, or use a master secret that RDS manages',
    );
  }
  const resource =
    taggedArn === undefined ? rdsResourceOfHost(own!.host) : taggedResource(masterArn, taggedArn);

  const masterName = own ? describeServer(own) : `the RDS ${resource?.kind} ${resource?.id}`;
  const refuse = (why: string) =>
    new SecretShapeError(
      'host',
      `is ${describeServer(target)}, but the master credentials (masterarn ${masterArn}) belong to ${masterName}; ${why}, so the master credentials were not sent`,
      `point the secret at ${masterName}${resource ? ' or one of its replicas, readers or cluster members' : ''}, or use a master secret for ${describeServer(target)}`,
    );
  if (!resource)
    throw refuse(`${describeServer(target)} is another server, and ${own?.host} is no RDS endpoint`);

  const endpoints = rule.rdsLookup
    ? await rule.rdsLookup(resource)
    : await (await import('./rds-client.ts')).rdsEndpoints(resource);
  // A master located by its host name must really be that resource's endpoint, not a namesake.
  if (own && taggedArn === undefined && !endpoints.some((endpoint) => sameServer(endpoint, own))) {
    throw refuse(
      `RDS does not report ${describeServer(own)} as an endpoint of ${resource.kind} ${resource.id}`,
    );
  }
  const match = endpoints.find((endpoint) => sameServer(endpoint, target));
  if (!match) {
    throw refuse(
      `RDS reports no replica, reader or cluster member of ${resource.kind} ${resource.id} at ${describeServer(target)}`,
    );
  }
  ctx.logger.info('master credentials used on a server RDS reports as part of the master', {
    host: target.host,
    port: target.port,
    rdsResource: `${resource.kind} ${resource.id}`,
    role: match.role,
  });
  return { via: 'rds', resource: `${resource.kind} ${resource.id}`, role: match.role };
}
