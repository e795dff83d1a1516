/**
 * SSH keys (docs/adapters/ssh-keys.md): each rotation makes a new key pair, installs its public key
 * in the account's authorized_keys on every listed host (logged in with the current key), logs in
 * with it, and removes the old public key once the new version is current. The secret is a JSON
 * SecretString or the private key file as SecretBinary (hosts and account then in its tags).
 * @module
 */
import { TargetRefusedError } from '../../core/errors.ts';
import type { RotationTarget, StepContext } from '../../core/target.ts';
import { pinsFor, readSshSettings, refuseUnlistedSshHost, type SshHost, type SshSettings } from './hosts.ts';
import { generateSshKeyPair, pemBody } from './keys.ts';
import {
  destinationFromTags,
  parseBinarySecret,
  parseJsonSecret,
  type SshDestination,
  type SshKeySecret,
  serializeSshSecret,
  withKeyPair,
} from './secret.ts';
import { addKeyScript, removeKeyScript, type SshSession, tryOpenSsh } from './session.ts';
import { loadSsh2 } from './ssh2-loader.ts';

export type { SshKeySecret } from './secret.ts';

/**
 * The SSH key rotation target. The old public key keeps working until finishSecret has made the
 * new version current, so clients holding either key keep logging in during the rotation.
 *
 * @example
 * ```ts
 * import { createRotationHandler } from 'secrets-rotator';
 * import { sshKeys } from 'secrets-rotator/adapters/ssh-keys';
 * export const handler = createRotationHandler(sshKeys());
 * ```
 */
export function sshKeys(): RotationTarget<SshKeySecret> {
  let settings: SshSettings | undefined;
  const settingsOf = (ctx: StepContext) => {
    settings ??= readSshSettings(ctx.env);
    return settings;
  };

  const destinationOf = async (secret: SshKeySecret, ctx: StepContext): Promise<SshDestination> => {
    const destination = secret.destination ?? destinationFromTags(await ctx.readSecretTags(ctx.secretArn));
    const field = secret.format === 'json' ? 'hosts' : 'ssh:hosts';
    for (const host of destination.hosts) refuseUnlistedSshHost(host, settingsOf(ctx).allowedHosts, field);
    return destination;
  };

  /** The first of `keys` the host accepts, or `undefined` when it refuses them all. */
  const logIn = async (
    host: SshHost,
    destination: SshDestination,
    keys: ReadonlyArray<{ label: string; secret: SshKeySecret | undefined }>,
    ctx: StepContext,
  ): Promise<{ session: SshSession; label: string } | undefined> => {
    const config = settingsOf(ctx);
    const pins = pinsFor(host, destination.hostKeys, config.hostKeys);
    for (const { label, secret } of keys) {
      if (!secret) continue;
      const login = { username: destination.username, privateKey: secret.privateKey, label };
      const session = await tryOpenSsh(host, login, pins, config, ctx);
      if (session) return { session, label };
    }
    return undefined;
  };

  /** Runs `work` on every host, logged in with the first of `keys` it accepts; `refused` is the error when none is. */
  const onEachHost = async (
    destination: SshDestination,
    keys: ReadonlyArray<{ label: string; secret: SshKeySecret | undefined }>,
    ctx: StepContext,
    refused: ((host: SshHost) => string) | undefined,
    work: (session: SshSession, host: SshHost, label: string) => Promise<unknown>,
  ): Promise<void> => {
    for (const host of destination.hosts) {
      const opened = await logIn(host, destination, keys, ctx);
      if (!opened) {
        if (refused === undefined) continue;
        throw new TargetRefusedError('authentication', refused(host));
      }
      try {
        await work(opened.session, host, opened.label);
      } finally {
        opened.session.close();
      }
    }
  };

  const removeFrom = async (session: SshSession, destination: SshDestination, old: SshKeySecret) =>
    session.run(
      removeKeyScript(destination.authorizedKeysFile, old.publicKey),
      'removing the old public key',
    );

  return {
    name: 'ssh-keys',
    appliesFromCurrent: true,
    appliesFromPrevious: true,
    init(env) {
      settings = readSshSettings(env);
    },
    prepare: async () => {
      await loadSsh2();
    },
    parse: parseJsonSecret,
    parseBinary: parseBinarySecret,
    serialize: serializeSshSecret,
    secrets: (value) => [value.privateKey, pemBody(value.privateKey)],

    async next(current, ctx) {
      const destination = await destinationOf(current, ctx);
      const keys = await generateSshKeyPair(
        destination.keyType,
        destination.keyBits,
        `secrets-rotator:${ctx.versionId}`,
      );
      ctx.redact(keys.privateKey, pemBody(keys.privateKey));
      return withKeyPair(current, keys.privateKey, keys.publicKey);
    },

    async apply(pending, known, ctx) {
      const current = await known.current();
      const destination = await destinationOf(pending, ctx);
      // Read before anything changes: a failing step must leave the hosts as it found them.
      const previous = await known.previous();
      const stale =
        previous && ![current, pending].some((value) => value.publicKey.blob === previous.publicKey.blob);
      const keys = [
        { label: 'current', secret: current },
        { label: 'pending', secret: pending },
        { label: 'previous', secret: previous },
      ];
      const refused = (host: SshHost) =>
        `${host.label} refused every stored key for "${destination.username}" (current, pending, previous); someone changed authorized_keys outside rotation: put a working key in the AWSCURRENT version and rotate again`;
      await onEachHost(destination, keys, ctx, refused, async (session, host, loggedInWith) => {
        const outcome = await session.run(
          addKeyScript(destination.authorizedKeysFile, pending.publicKey),
          'installing the new public key',
        );
        // A key older than the current one should have gone at the last finishSecret; if that never completed, it goes now.
        const staleOutcome = stale && previous ? await removeFrom(session, destination, previous) : undefined;
        if (staleOutcome === 'removed')
          ctx.logger.warn('removed a key older than the current one, left by an unfinished rotation', {
            host: host.label,
          });
        ctx.logger.info(
          outcome === 'added' ? 'installed the new public key' : 'the new public key was already installed',
          { host: host.label, user: destination.username, loggedInWith },
        );
      });
    },

    async verify(pending, ctx) {
      const destination = await destinationOf(pending, ctx);
      const refused = (host: SshHost) =>
        `${host.label} refused the new key for "${destination.username}"; setSecret did not install it in ${destination.authorizedKeysFile}, or sshd reads another file (AuthorizedKeysFile)`;
      const keys = [{ label: 'pending', secret: pending }];
      await onEachHost(destination, keys, ctx, refused, async (_, host) => {
        ctx.logger.info('logged in with the new key', { host: host.label, user: destination.username });
      });
    },

    async afterPromotion(promoted, previous, ctx) {
      if (!previous || previous.publicKey.blob === promoted.publicKey.blob) {
        ctx.logger.info('no earlier key to remove');
        return;
      }
      const destination = await destinationOf(promoted, ctx);
      const refused = (host: SshHost) =>
        `${host.label} refused the promoted (AWSCURRENT) key for "${destination.username}", so the old key was not removed; put a working key in the AWSCURRENT version and rotate again`;
      const keys = [{ label: 'promoted', secret: promoted }];
      await onEachHost(destination, keys, ctx, refused, async (session, host) => {
        const outcome = await removeFrom(session, destination, previous);
        ctx.logger.info(
          outcome === 'removed' ? 'removed the old public key' : 'the old public key was already removed',
          { host: host.label },
        );
      });
    },

    async revoke(value, ctx) {
      const destination = await destinationOf(value, ctx);
      const keys = [{ label: 'revoked', secret: value }];
      await onEachHost(destination, keys, ctx, undefined, (session) =>
        removeFrom(session, destination, value),
      );
    },
  };
}
