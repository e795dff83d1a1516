import { randomSecret } from '../src/adapters/random-secret/index.ts';
import { createRotationHandler } from '../src/core/engine.ts';

export const handler = createRotationHandler(randomSecret());
