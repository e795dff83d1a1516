import { postgresSingleUser } from '../src/adapters/postgres/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

export const handler = createRotationHandler(postgresSingleUser());
