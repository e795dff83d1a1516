// What to tell an operator after a failed rotation step: the fix, derived from the kind of error
// the engine or adapter threw (docs/protocol.md#security-rules gives each failure a sanitised cause).
import { RotationError, TargetRefusedError, TargetUnreachableError } from '../core/errors.ts';

/** `resume`: the command that resumes the same rotation once the cause is fixed. */
export function fixFor(cause: unknown, resume: string): string {
  const then = `then resume the same version: ${resume}`;
  if (cause instanceof TargetUnreachableError) {
    switch (cause.failure) {
      case 'tls':
        return `fix TLS between this machine and the target (the secret's "ssl" field, the CA bundle such as PG_CA_BUNDLE, the server's certificate), ${then}`;
      case 'timeout':
        return `the target did not answer in time: check it is up and not overloaded, and the connect timeout, ${then}`;
      default:
        return `the target cannot be reached: check host, port, security groups / firewall and DNS from where the function runs, ${then}`;
    }
  }
  if (cause instanceof TargetRefusedError) {
    switch (cause.failure) {
      case 'authentication':
        return `the target refused the credentials: check that the AWSCURRENT (or master) credentials still log in (secrets-rotator check <secret> --handler <name>), ${then}`;
      case 'permission':
        return `the user lacks a privilege the rotation needs (changing its password, or creating the clone): grant it, ${then}`;
      default:
        return `the target rejected a statement or request: read the message above, fix the cause, ${then}`;
    }
  }
  if (cause instanceof RotationError) {
    switch (cause.kind) {
      case 'configuration':
        return `fix the setting named above (environment variable of the rotation function), ${then}`;
      case 'secret-shape':
        return `fix the secret's value as the message says (aws secretsmanager put-secret-value for AWSCURRENT), ${then}`;
      case 'protocol-state':
        return `the versions and labels do not allow this step: inspect them with secrets-rotator status <secret>; abandon the rotation with secrets-rotator repair <secret> if needed`;
      case 'secrets-manager':
        return `a Secrets Manager call failed: check the identity's permissions and the endpoint, ${then}`;
      default:
        return `fix the cause above, ${then}`;
    }
  }
  return `fix the cause above, ${then}; or abandon the rotation with secrets-rotator repair <secret>`;
}
