// What the CLI hands the engine and adapters: a logger on stderr only with --verbose (stdout stays a
// clean table or JSON), metrics never printed, and a step context for work outside a rotation step.
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createStepContext } from '../core/context.ts';
import { redactor } from '../core/observability.ts';
import { SecretsManagerGateway } from '../core/secrets-manager.ts';
import type { StepContext } from '../core/target.ts';

/** A Powertools Logger whose JSON lines (redacted) go to `print`, or nowhere unless `verbose`. */
export function cliLogger(print: (line: string) => void, verbose: boolean): Logger {
  class PrintingLogger extends Logger {
    protected override printLog(_logLevel: number, log: LogItem): void {
      print(redactor.scrub(JSON.stringify(log.getAttributes(), this.getJsonReplacer())));
    }
  }
  return new PrintingLogger({
    serviceName: 'secrets-rotator',
    logLevel: verbose ? 'DEBUG' : 'SILENT',
    jsonReplacerFn: (_key: string, value: unknown) =>
      typeof value === 'string' ? redactor.scrub(value) : value,
  });
}

// Keeps the engine's metrics bookkeeping working but never prints EMF lines (they would land in
// the middle of the CLI's output).
export function cliMetrics(): Metrics {
  class QuietMetrics extends Metrics {
    override publishStoredMetrics(): this {
      this.clearMetrics();
      this.clearDimensions();
      return this;
    }
  }
  return new QuietMetrics({ namespace: 'SecretsRotator', serviceName: 'secrets-rotator' });
}

/** The engine's step-context options, with a client in place of the gateway and no metrics sink. */
type CliStepContextOptions = Omit<Parameters<typeof createStepContext>[0], 'secretsManager' | 'count'> & {
  readonly client: SecretsManagerClient;
};

/**
 * A {@link StepContext} for adapter work the CLI does outside the engine: reading another secret
 * (the master credentials) registers its secret fields for redaction, as the engine does.
 */
export function cliStepContext({ client, ...options }: CliStepContextOptions): StepContext {
  // Adapter metrics have nowhere to go outside Lambda.
  return createStepContext({
    ...options,
    secretsManager: new SecretsManagerGateway(client),
    count: () => {},
  });
}
