/**
 * `secrets-rotator rotate --handler oauth-client-secret`: the built-in handler, configured by the
 * environment, rotates a client secret at the loopback OAuth provider through the local endpoint.
 */
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type OAuthProvider, startOAuthProvider } from '../support/fake-oauth-provider.ts';
import { trackSecrets } from '../support/leak-scan.ts';
import { type CliFixture, startCliFixture } from './fixtures.ts';
import { cli } from './run.ts';

let fixture: CliFixture;
let provider: OAuthProvider;

beforeAll(async () => {
  fixture = await startCliFixture();
  provider = await startOAuthProvider();
});
afterAll(async () => {
  trackSecrets(...provider.secrets().map((record) => record.secret), ...provider.tokens());
  await provider?.close();
  await fixture?.close();
});

it('rotates a client secret: the new one gets a token, the old one is refused', async () => {
  const value = JSON.stringify({ clientSecret: provider.seed.secret, secretId: provider.seed.id });
  trackSecrets(provider.seed.secret, value);
  await fixture.client.send(new CreateSecretCommand({ Name: 'oauth/cli', SecretString: value }));
  const env = {
    HTTP_API_KEY_ALLOWED_HOSTS: '127.0.0.1',
    OAUTH_CLIENT_SECRET_CONFIG: JSON.stringify({
      baseUrl: provider.url,
      clientId: provider.clientId,
      secretsPath: provider.secretsPath,
    }),
  };
  const result = await cli(
    ['rotate', 'oauth/cli', '--handler', 'oauth-client-secret', '--endpoint-url', fixture.local.endpoint],
    { now: fixture.clock.now, env },
  );
  trackSecrets(...provider.secrets().map((record) => record.secret), ...provider.tokens());
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const answer = await fixture.client.send(new GetSecretValueCommand({ SecretId: 'oauth/cli' }));
  trackSecrets(answer.SecretString);
  const secret = (JSON.parse(answer.SecretString ?? '{}') as { clientSecret: string }).clientSecret;
  expect(secret).not.toBe(provider.seed.secret);
  expect(await provider.tokenStatus(secret)).toBe(200);
  expect(await provider.tokenStatus(provider.seed.secret)).toBe(401);
});
