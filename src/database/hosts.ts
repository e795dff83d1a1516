/**
 * Where a database credential may go, for the database adapters, the CLI and the client alike:
 * the deployer's `DATABASE_ALLOWED_HOSTS`, and the rule that master credentials go only to the
 * master's own server or to a server the RDS API reports as a replica, Aurora reader or cluster
 * member of it. Both checks run before any connection is opened with the credentials they guard.
 */
import { type HostAllowlist, normalizeHost, parseHostAllowlist } from '../core/allowed-hosts.ts';
import { type Env, envString } from '../core/config.ts';
import { SecretShapeError } from '../core/errors.ts';
import type { StepContext } from '../core/target.ts';
import type { RdsEndpoint, RdsResource } from './rds-client.ts';

/**
 * The variable naming the hosts a database secret may point at: exact host names, IP addresses or
 * `*.suffix` patterns, comma-separated. Unset: any host.
 */
export const DATABASE_ALLOWED_HOSTS = 'DATABASE_ALLOWED_HOSTS';

/** The deployer's `DATABASE_ALLOWED_HOSTS`, parsed; `undefined` when unset (every host allowed). */
export function readDatabaseAllowedHosts(env: Env): HostAllowlist | undefined {
  return parseHostAllowlist(DATABASE_ALLOWED_HOSTS, envString(env, DATABASE_ALLOWED_HOSTS));
}

/**
 * Refuses a host the deployer's list does not name, before anything is sent to it. Does nothing
 * when no list is set.
 */
export function refuseUnlistedHost(host: string, allowed: HostAllowlist | undefined, field = 'host'): void {
  if (allowed === undefined || allowed.allows(host)) return;
  throw new SecretShapeError(
    field,
    `is "${host.slice(0, 255)}", which ${allowed.variable} does not list (${allowed.entries.join(', ')}), so no credentials were sent to it`,
    `point the secret at a listed database host, or have the deployer add the host to ${allowed.variable}`,
  );
}

/** A database server: a host name and a port. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

/** Whether two host names are the same: case-insensitively, ignoring one trailing dot and blanks. */
export function sameHost(a: string, b: string): boolean {
  return normalizeHost(a) === normalizeHost(b);
}

/**
 * Whether two addresses are the same server: the same host, as {@link sameHost} compares them, and
 * the same port. Credentials checked on one server prove nothing on another, even on the same host.
 */
export function sameServer(a: ServerAddress, b: ServerAddress): boolean {
  return sameHost(a.host, b.host) && a.port === b.port;
}

/** `host:port` for messages, with brackets around an IPv6 address. */
export function describeServer(server: ServerAddress): string {
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return `${host.slice(0, 255)}:${server.port}`;
}

/**
 * The tags Secrets Manager puts on a master secret that RDS manages (`ManageMasterUserPassword`):
 * the ARN of the DB instance or the Aurora cluster whose master user it holds.
 */
export const RDS_PRIMARY_INSTANCE_TAG = 'aws:rds:primaryDBInstanceArn';

/** See {@link RDS_PRIMARY_INSTANCE_TAG}: the tag naming an Aurora (or Multi-AZ DB) cluster. */
export const RDS_PRIMARY_CLUSTER_TAG = 'aws:rds:primaryDBClusterArn';

/** The master credentials' own location: the master secret's `host` and `port`, when it has them. */
export interface MasterLocation {
  /** The master secret's `host`, when it has one. */
  readonly host: string | undefined;
  /** The master secret's `port`, when it has one (else the engine's default port). */
  readonly port: number | undefined;
}

/**
 * How the servers RDS reports for a resource are found; {@link loadRdsLookup} by default, a fake in
 * tests.
 */
export type RdsLookup = (resource: RdsResource) => Promise<readonly RdsEndpoint[]>;

/**
 * The RDS client, imported only when a master rule needs it: single-user rotations and masters
 * used on their own host never load `@aws-sdk/client-rds`.
 */
export function loadRdsLookup(): RdsLookup {
  return async (resource) => (await import('./rds-client.ts')).rdsEndpoints(resource);
}

// <id>.<hash>.<region>.rds.amazonaws.com and <cluster>.cluster-<hash>.<region>…: the forms of the
// endpoints RDS gives instances and cluster writers (a reader or custom endpoint names no master).
const RDS_ENDPOINT =
  /^([a-z][a-z0-9-]{0,62})\.(cluster-)?[a-z0-9]+\.([a-z]{2}(?:-[a-z]+)+-\d)\.rds\.amazonaws\.com(?:\.cn)?$/;

/**
 * The RDS instance or cluster an endpoint host name belongs to, from its form; `undefined` for a
 * host that is not an RDS instance endpoint or cluster (writer) endpoint.
 */
export function rdsResourceOfHost(host: string): RdsResource | undefined {
  const match = RDS_ENDPOINT.exec(normalizeHost(host));
  if (!match) return undefined;
  return { kind: match[2] ? 'cluster' : 'instance', id: match[1]!, region: match[3]! };
}

/** The RDS instance or cluster an ARN (from the tags) names. */
export function rdsResourceOfArn(arn: string): RdsResource | undefined {
  const match = /^arn:aws[a-z-]*:rds:([a-z0-9-]+):\d{12}:(db|cluster):([A-Za-z0-9-]+)$/.exec(arn);
  if (!match) return undefined;
  return { kind: match[2] === 'db' ? 'instance' : 'cluster', id: match[3]!, region: match[1]!, arn };
}

/** What {@link requireMasterServer} needs. */
export interface MasterServerRule {
  /** The master secret's ARN (`masterarn`). */
  readonly masterArn: string;
  /** Where the master secret says its credentials belong. */
  readonly master: MasterLocation;
  /** The server the master credentials are about to be used on (the rotated secret's). */
  readonly target: ServerAddress;
  /** The engine's default port, for a master secret with a host but no port. */
  readonly defaultPort: number;
  /** Overrides how RDS is asked (tests). */
  readonly rdsLookup?: RdsLookup;
}

/**
 * How the master rule let the master credentials through: the target is the master's own server,
 * or RDS reports it as one of the master's (a replica, reader, cluster endpoint or member).
 */
export type MasterServerVerdict =
  | { readonly via: 'own server' }
  | { readonly via: 'rds'; readonly resource: string; readonly role: string };

/**
 * Master credentials go only to the master's own server: the master secret's `host` and `port`,
 * or a server the RDS API reports as a read replica, Aurora reader, cluster endpoint or cluster
 * member of the master's instance or cluster. An RDS-managed master secret (only `username` and
 * `password`) is located through its `aws:rds:primaryDBInstanceArn` / `aws:rds:primaryDBClusterArn`
 * tags, never through the rotated secret. Anything else is refused before any connection with the
 * master credentials, naming both servers.
 */
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
  let resource: RdsResource | undefined;
  if (taggedArn !== undefined) {
    resource = rdsResourceOfArn(taggedArn);
    if (!resource) {
      throw new SecretShapeError(
        'masterarn',
        `names secret ${masterArn}, whose RDS tag holds "${taggedArn.slice(0, 200)}", which is not an RDS instance or cluster ARN`,
        'let RDS manage the tag (ManageMasterUserPassword), or remove it and store "host" and "port" in the master secret',
      );
    }
  } else if (own) {
    resource = rdsResourceOfHost(own.host);
  } else {
    throw new SecretShapeError(
      'masterarn',
      `names secret ${masterArn}, which has no "host" and no ${RDS_PRIMARY_INSTANCE_TAG} or ${RDS_PRIMARY_CLUSTER_TAG} tag, so nothing says which server its credentials belong to; they were not sent to ${describeServer(target)}`,
      'store "host" and "port" (the master\'s own server) in the master secret, or use a master secret that RDS manages',
    );
  }

  const masterName = own ? describeServer(own) : `the RDS ${resource?.kind} ${resource?.id}`;
  const refuse = (why: string) =>
    new SecretShapeError(
      'host',
      `is ${describeServer(target)}, but the master credentials (masterarn ${masterArn}) belong to ${masterName}; ${why}, so the master credentials were not sent`,
      `point the secret at ${masterName}${resource ? ' or one of its replicas, readers or cluster members' : ''}, or use a master secret for ${describeServer(target)}`,
    );
  if (!resource)
    throw refuse(`${describeServer(target)} is another server, and ${own?.host} is no RDS endpoint`);

  const endpoints = await (rule.rdsLookup ?? loadRdsLookup())(resource);
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
