import { mysqlAlternatingUsers } from '../src/adapters/mysql/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

export const handler = createRotationHandler(mysqlAlternatingUsers());
