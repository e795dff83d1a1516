/**
 * A newcomer's first trial of the CLI against the real local endpoint, replayed: each case is one
 * surprise they reported, driven through the CLI exactly as they ran it.
 */
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trackSecrets } from '../support/leak-scan.ts';
import { type CliFixture, createSecret, startCliFixture } from './fixtures.ts';
import { cli } from './run.ts';

let fixture: CliFixture;
let endpoint: string[];
const env = { PASSWORD_GENERATOR: 'local' };

beforeAll(async () => {
  fixture = await startCliFixture();
  endpoint = ['--endpoint-url', fixture.local.endpoint];
});
afterAll(async () => {
  await fixture.close();
});

const run = (argv: string[], extraEnv: Record<string, string> = {}) =>
  cli([...argv, ...endpoint], { now: fixture.clock.now, env: { ...env, ...extraEnv } });

async function versionLabels(name: string): Promise<Record<string, string[]>> {
  const answer = await fixture.client.send(new ListSecretVersionIdsCommand({ SecretId: name }));
  return Object.fromEntries((answer.Versions ?? []).map((v) => [v.VersionId!, v.VersionStages ?? []]));
}

describe('repair on a secret without rotation configured', () => {
  it('refuses a 19-second-old AWSPENDING without --force, though rotation is disabled', async () => {
    const name = 'newcomer/repair-young';
    await createSecret(fixture.client, name);
    // The newcomer's way to an unfinished rotation: rotate --handler failing at createSecret (a plain
    // string secret, RANDOM_SECRET_FIELD set) leaves the AWSPENDING placeholder; rotation was never
    // configured on the secret.
    const failed = await run(['rotate', name, '--handler', 'random-secret'], {
      RANDOM_SECRET_FIELD: 'password',
    });
    expect(failed.code).toBe(1);
    const before = await versionLabels(name);
    const pendingId = Object.keys(before).find((id) => before[id]!.includes('AWSPENDING'))!;
    expect(pendingId).toBeDefined();
    fixture.clock.advance(19_000);

    const status = await run(['status', name, '--output', 'json']);
    expect(status.json<{ verdict: string }>().verdict).toBe('rotation-disabled');

    const refused = await run(['repair', name, '--yes']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('may still be running');
    expect(refused.stderr).toContain('--force');
    expect(await versionLabels(name)).toEqual(before);

    const forced = await run(['repair', name, '--yes', '--force', '--output', 'json']);
    expect(forced.code).toBe(0);
    expect(forced.json<{ changed: boolean }>().changed).toBe(true);
    expect((await versionLabels(name))[pendingId] ?? []).not.toContain('AWSPENDING');
  });
});

describe('random-secret on a JSON secret', () => {
  it('refuses a JSON object without RANDOM_SECRET_FIELD, naming the setting, and writes nothing', async () => {
    const name = 'newcomer/json-secret';
    const password = 'pw-newcomer-9f3c2a7d1e';
    trackSecrets(password);
    const original = JSON.stringify({ username: 'svc', password });
    await fixture.client.send(new CreateSecretCommand({ Name: name, SecretString: original }));

    const refused = await run(['rotate', name, '--handler', 'random-secret']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('RANDOM_SECRET_FIELD');
    expect(refused.stderr).toMatch(/failed at createSecret/);
    const current = await fixture.client.send(new GetSecretValueCommand({ SecretId: name }));
    expect(current.SecretString).toBe(original);
    // No value was stored for the new version: only the valueless placeholder exists.
    const pending = await fixture.client
      .send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' }))
      .then(
        () => 'stored',
        (error: { name?: string }) => error.name,
      );
    expect(pending).toBe('ResourceNotFoundException');

    // With the field named, only that field changes.
    const rotated = await run(['rotate', name, '--handler', 'random-secret', '--resume'], {
      RANDOM_SECRET_FIELD: 'password',
    });
    expect(rotated.code).toBe(0);
    const after = await fixture.client.send(new GetSecretValueCommand({ SecretId: name }));
    const parsed = JSON.parse(after.SecretString!) as { username: string; password: string };
    trackSecrets(parsed.password);
    expect(parsed.username).toBe('svc');
    expect(parsed.password).not.toBe(password);
  });
});
