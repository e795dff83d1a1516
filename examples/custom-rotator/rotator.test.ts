// Tests the custom rotator as a team would: a local Secrets Manager endpoint (secrets-rotator/testing),
// the real engine, and a small stand-in for the service, all on loopback.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createRotationHandler } from 'secrets-rotator';
import { rotateSecret, startLocalSecretsManager } from 'secrets-rotator/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serviceToken } from './rotator.ts';

// The service: accepts the tokens in `valid`; a valid token may add or revoke tokens.
const valid = new Set(['first-token-of-the-service']);
let failNextAdd = false;
const service = createServer(async (request, response) => {
  let body = '';
  for await (const chunk of request) body += chunk;
  const token = request.headers.authorization?.replace('Bearer ', '') ?? '';
  let status = 401;
  if (valid.has(token) && request.url === '/whoami') {
    status = 200;
  } else if (valid.has(token) && request.url === '/tokens') {
    status = failNextAdd ? 503 : 201;
    if (!failNextAdd) valid.add(JSON.parse(body).token);
    failNextAdd = false;
  } else if (valid.has(token) && request.url === '/tokens/revoke') {
    status = valid.delete(JSON.parse(body).token) ? 204 : 404;
  }
  response.writeHead(status).end();
});

const local = await startLocalSecretsManager();
const client = local.client();
const handler = createRotationHandler(serviceToken, { client, env: { PASSWORD_GENERATOR: 'local' } });
const secretId = 'team/service-token';

beforeAll(async () => {
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
  const secret = { url, token: 'first-token-of-the-service', owner: 'team-a' };
  await client.send(new CreateSecretCommand({ Name: secretId, SecretString: JSON.stringify(secret) }));
});
afterAll(async () => {
  service.close();
  await local.close();
});

async function current(): Promise<{ token: string; owner: string }> {
  const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  return JSON.parse(answer.SecretString ?? '{}');
}

it('rotates the token: the new one works, the old one is revoked, other fields are kept', async () => {
  for (let rotation = 0; rotation < 3; rotation++) {
    const before = await current();
    const result = await rotateSecret({ client, secretId, handler });
    expect(result.ok).toBe(true);
    const after = await current();
    expect(after.token).not.toBe(before.token);
    expect(after.owner).toBe('team-a');
    expect([...valid]).toEqual([after.token]);
  }
});

it('converges when the service fails once: the rotation is resumed with the same version', async () => {
  const before = await current();
  failNextAdd = true;
  const first = await rotateSecret({ client, secretId, handler });
  expect(first.failedStep).toBe('setSecret');
  expect((await current()).token).toBe(before.token);
  const second = await rotateSecret({ client, secretId, handler, resume: true });
  expect(second.ok).toBe(true);
  expect(second.versionId).toBe(first.versionId);
  expect([...valid]).toEqual([(await current()).token]);
});
