/**
 * A stand-in for the RDS API on loopback (there is no RDS emulator), for the deployed zips, which
 * reach it through `AWS_ENDPOINT_URL_RDS`: it answers DescribeDBInstances (AWS query protocol,
 * XML) from a table of instances, and DBInstanceNotFound for anything else. It records the
 * requests so tests can tell what the function asked.
 */
import { createServer, type Server } from 'node:http';

/** One instance as the fake reports it. */
export interface FakeRdsInstance {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly replicas?: readonly string[];
}

/** A running fake. */
export interface FakeRds {
  readonly endpoint: string;
  /** Each request's form parameters. */
  readonly requests: Array<Record<string, string>>;
  close(): Promise<void>;
}

const xmlEscape = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

function instanceXml(instance: FakeRdsInstance): string {
  const replicas = (instance.replicas ?? [])
    .map((id) => `<ReadReplicaDBInstanceIdentifier>${xmlEscape(id)}</ReadReplicaDBInstanceIdentifier>`)
    .join('');
  return `<DBInstance><DBInstanceIdentifier>${xmlEscape(instance.id)}</DBInstanceIdentifier><Endpoint><Address>${xmlEscape(instance.host)}</Address><Port>${instance.port}</Port></Endpoint><ReadReplicaDBInstanceIdentifiers>${replicas}</ReadReplicaDBInstanceIdentifiers></DBInstance>`;
}

/**
 * Starts the fake with `instances`, looked up by identifier or by the ARN's last part.
 *
 * @example
 * ```ts
 * const rds = await startFakeRds([{ id: 'orders', host: '127.0.0.1', port: 5432 }]);
 * // AWS_ENDPOINT_URL_RDS: rds.endpoint
 * ```
 */
export async function startFakeRds(instances: readonly FakeRdsInstance[]): Promise<FakeRds> {
  const requests: Array<Record<string, string>> = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      requests.push(form);
      const wanted = (form.DBInstanceIdentifier ?? '').split(':').pop();
      const instance = instances.find((entry) => entry.id === wanted);
      response.setHeader('content-type', 'text/xml');
      if (form.Action !== 'DescribeDBInstances' || !instance) {
        response.statusCode = 404;
        response.end(
          `<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>DBInstanceNotFound</Code><Message>DBInstance ${xmlEscape(wanted ?? '')} not found.</Message></Error><RequestId>fake</RequestId></ErrorResponse>`,
        );
        return;
      }
      response.end(
        `<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBInstancesResult><DBInstances>${instanceXml(instance)}</DBInstances></DescribeDBInstancesResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></DescribeDBInstancesResponse>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
