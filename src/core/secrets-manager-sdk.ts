// The part of the Secrets Manager SDK the engine sends, imported by name so a bundle that loads it
// lazily carries these commands and no others (and IAM in deploy/ grants exactly these).
export {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
