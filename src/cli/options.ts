// Flag value parsers; commander reports their errors with the flag's name.
import { InvalidArgumentError, Option } from 'commander';
import { UsageError } from './exit.ts';
import { FAILING_VERDICTS, type Verdict } from './verdict.ts';

export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(`Expected a whole number from ${min} to ${max}.`);
    }
    return number;
  };
}

/** `--max-age <days>` and `--stuck-after <minutes>`, shared by `status` and `audit`. */
export function verdictOptions(): Option[] {
  return [
    new Option('--max-age <days>', 'also fail when the current value is older than this many days').argParser(
      wholeNumber(0, 36_500),
    ),
    new Option(
      '--stuck-after <minutes>',
      'an unfinished rotation older than this is "stuck" (younger: "rotating")',
    )
      .argParser(wholeNumber(0, 100_000))
      .default(30),
  ];
}

export function allowVerdict(value: string, previous: Verdict[] = []): Verdict[] {
  if (!(FAILING_VERDICTS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`Expected one of ${FAILING_VERDICTS.join(', ')}.`);
  }
  return [...previous, value as Verdict];
}

/**
 * The flag combinations `rotate` and `rotate --all` share: `--handler` goes with `--via-service`
 * only for `--emergency`, and `--emergency` needs `--handler` (the adapter that revokes).
 */
export function checkEmergencyFlags(options: {
  readonly viaService?: boolean;
  readonly handler?: string;
  readonly emergency?: boolean;
}): void {
  if (options.viaService && options.handler && !options.emergency) {
    throw new UsageError(
      '--handler with --via-service is only used by --emergency (to revoke the previous credential)',
      'drop --handler, or add --emergency',
    );
  }
  if (options.emergency && !options.handler) {
    throw new UsageError(
      '--emergency needs --handler <name>: the adapter that can revoke the previous credential',
      'e.g. --handler postgres-alternating-users',
    );
  }
}
