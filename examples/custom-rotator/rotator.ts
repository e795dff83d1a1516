// A custom rotator for a service token kept as {"url", "token"}; the engine does the protocol.
import {
  createRotationHandler,
  type RotationTarget,
  SecretShapeError,
  TargetRefusedError,
} from 'secrets-rotator';

export type ServiceToken = { readonly url: string; readonly token: string };

/** One call to the service, authenticated with `token`; returns the status. */
async function call(url: string, token: string, body?: object): Promise<number> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const init = { method: body ? 'POST' : 'GET', headers, body: JSON.stringify(body) };
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  await response.body?.cancel();
  return response.status;
}

export const serviceToken: RotationTarget<ServiceToken> = {
  name: 'service-token',
  parse(raw) {
    const value = JSON.parse(raw);
    if (typeof value.url !== 'string') throw new SecretShapeError('url', 'is required', 'set the URL');
    if (typeof value.token !== 'string') throw new SecretShapeError('token', 'is required');
    return value; // every other field is kept as it is
  },
  serialize: (value) => JSON.stringify(value),
  secrets: (value) => [value.token], // never printed in a log line or an error
  next: async (current, ctx) => ({ ...current, token: await ctx.newPassword({ excludePunctuation: true }) }),
  async apply(pending, known) {
    if ((await call(`${pending.url}/whoami`, pending.token)) === 200) return; // a retry: already done
    const { token } = await known.current();
    const status = await call(`${pending.url}/tokens`, token, { token: pending.token });
    if (status !== 201) throw new TargetRefusedError('rejected', `POST /tokens answered ${status}`);
  },
  async verify(pending) {
    const status = await call(`${pending.url}/whoami`, pending.token);
    if (status !== 200) throw new TargetRefusedError('authentication', `the new token got ${status}`);
  },
  async afterPromotion(promoted, previous) {
    if (!previous || previous.token === promoted.token) return;
    const status = await call(`${promoted.url}/tokens/revoke`, promoted.token, { token: previous.token });
    if (status !== 204 && status !== 404) throw new TargetRefusedError('rejected', `revoke got ${status}`);
  },
};

/** The Lambda handler (Handler: rotator.handler). */
export const handler = createRotationHandler(serviceToken);
