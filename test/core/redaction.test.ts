/**
 * Redaction: every credential is redacted whatever its length, for as long as it can appear in
 * output (the invocation that read it), and the cost of a log line does not grow with the number
 * of rotations a warm container has run.
 */
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { createRotationHandler } from '../../src/core/engine.ts';
import { REDACTED, Redactor, redactor, withRedactionScope } from '../../src/core/observability.ts';
import type { RotationTarget } from '../../src/core/target.ts';
import { rotateSecret } from '../../src/testing/index.ts';
import { capturedOutput } from '../support/leak-scan.ts';
import { useLocalSecretsManager } from '../support/local-secrets-manager.ts';

const local = useLocalSecretsManager();

type Credential = { readonly password: string };

/**
 * A target that prints its credentials on purpose (what a careless adapter or a driver's error
 * message would do) and records how many values each log line is scanned for.
 */
function loudTarget(scanned: number[]): RotationTarget<Credential> {
  return {
    name: 'loud',
    parse: (raw) => JSON.parse(raw) as Credential,
    serialize: (value) => JSON.stringify(value),
    secrets: (value) => [value.password],
    next: async (_current, ctx) => ({ password: await ctx.newPassword() }),
    async apply(pending, known, ctx) {
      const current = await known.current();
      scanned.push(redactor.size);
      ctx.logger.info(`loud apply: from <${current.password}> to <${pending.password}>`);
    },
    async verify(pending) {
      if (pending.password.length === 0) throw new Error('empty');
    },
  };
}

describe('Redactor', () => {
  it('redacts every non-empty value, however short', () => {
    const own = new Redactor();
    own.add('x', 'Q7', 'k9!', '', undefined, null);
    expect(own.size).toBe(3);
    expect(own.scrub('a x b Q7 c k9! d')).toBe(`a ${REDACTED} b ${REDACTED} c ${REDACTED} d`);
  });

  it('replaces a value that contains another whole', () => {
    const own = new Redactor();
    own.add('pw', 'pw-long-pw');
    expect(own.scrub('<pw-long-pw>')).toBe(`<${REDACTED}>`);
  });
});

describe('redaction scopes', () => {
  it('keeps a scope to itself: concurrent scopes do not see each other, nothing is kept afterwards', async () => {
    const before = redactor.size;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = withRedactionScope(async () => {
      redactor.add('first-scope-secret');
      await gate;
      return [redactor.scrub('first-scope-secret'), redactor.scrub('second-scope-secret')];
    });
    const second = withRedactionScope(async () => {
      redactor.add('second-scope-secret');
      release();
      return [redactor.scrub('first-scope-secret'), redactor.scrub('second-scope-secret')];
    });
    expect(await first).toEqual([REDACTED, 'second-scope-secret']);
    expect(await second).toEqual(['first-scope-secret', REDACTED]);
    expect(redactor.size).toBe(before);
    expect(redactor.scrub('first-scope-secret second-scope-secret')).toBe(
      'first-scope-secret second-scope-secret',
    );
  });
});

describe('the engine redacts per invocation', () => {
  it('redacts 1- and 3-character credentials in its log lines, forgets them after, and scans the same few values at rotation 1 and 25', async () => {
    const scanned: number[] = [];
    const handler = createRotationHandler(loudTarget(scanned), {
      client: local.client,
      env: { PASSWORD_GENERATOR: 'local', PASSWORD_LENGTH: '3', REQUIRE_EACH_INCLUDED_TYPE: 'false' },
    });
    // A one-character initial password: as much a credential as a long one.
    const created = await local.client.send(
      new CreateSecretCommand({ Name: 'redaction/loud', SecretString: JSON.stringify({ password: 'Z' }) }),
    );
    const secretId = created.ARN!;
    const outputBefore = capturedOutput().length;
    const first = await rotateSecret({ client: local.client, secretId, handler });
    expect(first.ok).toBe(true);

    const lines = capturedOutput()
      .slice(outputBefore)
      .split('\n')
      .filter((line) => line.includes('loud apply'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`loud apply: from <${REDACTED}> to <${REDACTED}>`);

    for (let i = 1; i < 25; i++) {
      const result = await rotateSecret({ client: local.client, secretId, handler });
      expect(result.ok).toBe(true);
    }
    // The same few values at the 25th rotation as at the first (current and pending, their JSON):
    // not one more per rotation.
    expect(scanned).toHaveLength(25);
    expect(new Set(scanned).size).toBe(1);
    expect(scanned[0]).toBeLessThanOrEqual(4);
    // Nothing from those invocations is kept by the process once they ended.
    expect(redactor.size).toBe(0);
    expect(redactor.scrub('{"password":"Z"}')).toBe('{"password":"Z"}');
  });
});
