// Exit codes of `secrets-rotator` and the errors that carry them, for scripts and CI pipelines.

/** The documented exit codes; their meanings: docs/cli.md#exit-codes. */
export const EXIT = {
  OK: 0,
  POLICY_FAILURE: 1,
  USAGE: 2,
  AWS: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * An error the CLI reports as one line (plus an optional fix) and turns into an exit code.
 * Messages never contain secret values.
 */
export class CliError extends Error {
  readonly exitCode: ExitCode;
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
