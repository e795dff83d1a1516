// What the CLI uses of the adapters beyond their public entry points (the demo's PostgreSQL set-up).
// Not a package export: the names here may change in any release.
export { scramSha256Verifier } from './postgres/scram.ts';
export { POSTGRES_ENV } from './postgres/settings.ts';
