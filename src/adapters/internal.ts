// What the CLI uses of the adapters beyond their public entry points. Not a package export: the
// names here may change in any release.
export { NETWORK_ERROR_CODES } from '../database/connection.ts';
export { isDatabaseSecretValue, refuseRevokingOutsidePair } from '../database/secret.ts';
export { scramSha256Verifier } from './postgres/scram.ts';
export { POSTGRES_ENV } from './postgres/settings.ts';
