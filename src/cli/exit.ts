// Exit codes of `secrets-rotator` and the errors that carry them, for scripts and CI pipelines.

/**
 * The documented exit codes.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success: the command did what was asked, or found nothing wrong |
 * | 1 | a finding: a secret fails the policy (`audit`, `status`), a rotation failed, timed out or cannot start with the secret's rotation set-up (`rotate`: no rotation function, an unknown function), a preflight check failed (`check`), the demo failed |
 * | 2 | usage error: unknown command or flag, bad flag value (a malformed `--region` too), missing argument, a combination of flags that cannot work |
 * | 3 | AWS or endpoint error: no credentials, an undefined profile, no region configured, access denied, a secret that does not exist, an endpoint that cannot be reached or is not a Secrets Manager endpoint |
 */
export const EXIT = {
  OK: 0,
  POLICY_FAILURE: 1,
  USAGE: 2,
  AWS: 3,
} as const;

/** One of the values of {@link EXIT}. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * An error the CLI reports as one line (plus an optional fix) and turns into an exit code.
 * Messages never contain secret values.
 */
export class CliError extends Error {
  /** The exit code this error ends the command with. */
  readonly exitCode: ExitCode;
  /** What the operator can do about it. */
  readonly fix: string | undefined;

  constructor(exitCode: ExitCode, message: string, fix?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.fix = fix;
  }
}

/** A flag or argument is wrong, or flags do not go together (exit code 2). */
export class UsageError extends CliError {
  constructor(message: string, fix?: string) {
    super(EXIT.USAGE, message, fix);
    this.name = 'UsageError';
  }
}
