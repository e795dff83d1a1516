// Which secrets `rotate --all` takes. ListSecrets narrows the pages (its filters are prefix matches);
// each filter is then checked exactly here.
import {
  type Filter,
  ListSecretsCommand,
  type SecretListEntry,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { UsageError } from '../exit.ts';
import type { VersionLabels } from '../labels.ts';
import type { AdaptiveThrottle } from './throttle.ts';

export type SecretFilter =
  | { readonly kind: 'name'; readonly prefix: string; readonly text: string }
  | { readonly kind: 'tag'; readonly key: string; readonly value: string; readonly text: string }
  | { readonly kind: 'tag-key'; readonly key: string; readonly text: string };

/** A secret `rotate --all` selected, as ListSecrets described it. */
export interface SelectedSecret {
  readonly name: string;
  readonly arn: string;
  readonly labels: VersionLabels;
  readonly rotationLambdaArn: string | undefined;
  readonly lastRotatedDate: Date | undefined;
}

export function parseFilter(text: string, previous: SecretFilter[] = []): SecretFilter[] {
  const name = /^name=(.+)$/.exec(text);
  if (name) return [...previous, { kind: 'name', prefix: name[1]!, text }];
  const tag = /^tag:([^=]+)=(.*)$/.exec(text);
  if (tag) return [...previous, { kind: 'tag', key: tag[1]!, value: tag[2]!, text }];
  const tagKey = /^tag:([^=]+)$/.exec(text);
  if (tagKey) return [...previous, { kind: 'tag-key', key: tagKey[1]!, text }];
  throw new UsageError(
    `--filter "${text}" is not name=<prefix>, tag:<key>=<value> or tag:<key>`,
    'e.g. --filter name=prod/ --filter tag:team=payments (every filter must match)',
  );
}

function matches(entry: SecretListEntry, filters: readonly SecretFilter[]): boolean {
  const tags = entry.Tags ?? [];
  return filters.every((filter) => {
    switch (filter.kind) {
      case 'name':
        return (entry.Name ?? '').startsWith(filter.prefix);
      case 'tag':
        return tags.some((tag) => tag.Key === filter.key && (tag.Value ?? '') === filter.value);
      case 'tag-key':
        return tags.some((tag) => tag.Key === filter.key);
    }
    return false;
  });
}

function serverFilters(filters: readonly SecretFilter[]): Filter[] {
  const result: Filter[] = [];
  for (const filter of filters) {
    if (filter.kind === 'name') result.push({ Key: 'name', Values: [filter.prefix] });
    else result.push({ Key: 'tag-key', Values: [filter.key] });
  }
  return result.slice(0, 10);
}

/** Every secret matching all `filters`, sorted by name (secrets scheduled for deletion excluded). */
export async function listSelected(
  client: SecretsManagerClient,
  filters: readonly SecretFilter[],
  throttle: AdaptiveThrottle,
): Promise<SelectedSecret[]> {
  const selected: SelectedSecret[] = [];
  let nextToken: string | undefined;
  const Filters = serverFilters(filters);
  do {
    const page = await throttle.call('ListSecrets', () =>
      client.send(
        new ListSecretsCommand({
          MaxResults: 100,
          ...(Filters.length > 0 ? { Filters } : {}),
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      ),
    );
    for (const entry of page.SecretList ?? []) {
      if (!entry.ARN || !entry.Name || entry.DeletedDate || !matches(entry, filters)) continue;
      selected.push({
        name: entry.Name,
        arn: entry.ARN,
        labels: entry.SecretVersionsToStages ?? {},
        rotationLambdaArn: entry.RotationLambdaARN,
        lastRotatedDate: entry.LastRotatedDate,
      });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return selected.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
