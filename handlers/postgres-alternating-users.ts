import { postgresAlternatingUsers } from '../src/adapters/postgres/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

/** Set PG_PREPROVISIONED_PAIR=true for a pair of users that already exist (passwords only). */
export const handler = createRotationHandler(postgresAlternatingUsers());
