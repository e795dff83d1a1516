/**
 * The local Secrets Manager endpoint, under the name the architecture sketch gives it. The
 * implementation lives in server.ts (HTTP and RotateSecret) and store.ts (the operations).
 */
export {
  type Fault,
  type LocalSecretsManager,
  type LocalSecretsManagerOptions,
  type RecordedCall,
  startLocalSecretsManager,
} from './server.ts';
