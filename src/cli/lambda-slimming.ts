// Bundle-time replacements for dependency code a Lambda function never runs, to keep the zips small.
import { readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as esbuild from 'esbuild';

export const LAMBDA_ONLY_NAMESPACE = 'lambda-only';

/**
 * The AWS SDK's default credential chain, as a Lambda function needs it: the runtime always hands
 * the role's credentials over in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, or,
 * under SnapStart, through the container credentials endpoint. Profiles, SSO, web identity,
 * credential processes and instance metadata (with the nested STS/SSO clients they load) never apply
 * there and were a third of every zip.
 */
const LAMBDA_CREDENTIALS_SOURCE = `
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { fromHttp } from '@aws-sdk/credential-provider-http';
import { CredentialsProviderError, memoize } from '@smithy/core/config';
const expiresSoon = (credentials) => credentials?.expiration !== undefined && credentials.expiration.getTime() - Date.now() < 300000;
const mayExpire = (credentials) => credentials?.expiration !== undefined;
export const defaultProvider = (init = {}) => memoize(async () => {
  try {
    return await fromEnv(init)();
  } catch {
    try {
      return await fromHttp(init)();
    } catch (error) {
      throw new CredentialsProviderError(
        'No AWS credentials: this Lambda bundle reads them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, which the Lambda runtime sets, or from the container credentials endpoint under SnapStart (' + error.message + ')',
        { logger: init.logger, tryNextLink: false },
      );
    }
  }
}, expiresSoon, mayExpire);
`;

interface Replacement {
  readonly request: RegExp;
  readonly importer: RegExp;
  /** The module's code, given the replaced module's path. */
  readonly contents: (path: string) => string;
}

const REPLACEMENTS: readonly Replacement[] = [
  {
    request: /^@aws-sdk\/credential-provider-node$/,
    importer: /node_modules\/@aws-sdk\//,
    contents: () => LAMBDA_CREDENTIALS_SOURCE,
  },
  // iconv-lite's single-byte code pages (windows-125x, ISO-8859-x…), registered when it loads: the
  // MySQL adapter connects with charset utf8mb4, and mysql2 decodes UTF-8, latin1 and ASCII with
  // Node's own Buffer methods, so no table is ever asked for.
  {
    request: /^\.\/sbcs-data-generated$/,
    importer: /node_modules\/iconv-lite\/encodings\//,
    contents: () => 'module.exports = {};\n',
  },
  // An AWS client reads only `version` (for its user agent) of its package.json, inlined whole otherwise.
  {
    request: /^\.\.\/package\.json$/,
    importer: /node_modules\/@aws-sdk\/client-[\w-]+\/dist-es\/runtimeConfig\.js$/,
    contents: (path) =>
      `export default ${JSON.stringify({ version: (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version })};\n`,
  },
];

/**
 * The RDS client registers a class for each of its 150 modelled errors. Left unregistered, an error
 * arrives as the client's base exception named by its code (`DBInstanceNotFound`, `AccessDenied`,
 * `Throttling`), which is all the master rule reads (src/database/rds-client.ts), and the classes
 * and their schemas drop out of the bundle.
 */
const RDS_ERROR_REGISTRATIONS = /^n0_registry\.registerError\(\w+\$, \w+\);$/gm;
const RDS_SCHEMAS = /node_modules[\\/]@aws-sdk[\\/]client-rds[\\/]dist-es[\\/]schemas[\\/]schemas_0\.js$/;

/**
 * The adapters' `preflight()` serves `secrets-rotator check`, never a rotation: in a bundle its
 * functions only refuse, so a single-user zip carries no master or RDS code it cannot run.
 */
const ADAPTERS_ROOT = join(dirname(dirname(fileURLToPath(import.meta.url))), 'adapters') + sep;
const PREFLIGHT_FILE = /[\\/]preflight\.[jt]s$/;
const EXPORTED_FUNCTION = /^export (?:async )?function (\w+)/gm;

const PREFLIGHT_REFUSAL =
  "throw new Error('preflight runs in the CLI (secrets-rotator check), not in a Lambda bundle');";

function preflightStub(path: string): string {
  return [...readFileSync(path, 'utf8').matchAll(EXPORTED_FUNCTION)]
    .map((match) => `export function ${match[1]}() { ${PREFLIGHT_REFUSAL} }\n`)
    .join('');
}

// A replacement's own imports resolve from the replaced module's folder, so they find the versions
// the original would have used.
export function lambdaOnlyReplacements(): esbuild.Plugin {
  return {
    name: 'lambda-only-replacements',
    setup(build) {
      for (const [index, replacement] of REPLACEMENTS.entries()) {
        build.onResolve({ filter: replacement.request }, async (args) => {
          if (args.pluginData === LAMBDA_ONLY_NAMESPACE) return undefined;
          if (!replacement.importer.test(args.importer.replaceAll('\\', '/'))) return undefined;
          const real = await build.resolve(args.path, {
            kind: args.kind,
            resolveDir: args.resolveDir,
            importer: args.importer,
            pluginData: LAMBDA_ONLY_NAMESPACE,
          });
          if (real.errors.length > 0) return { errors: real.errors };
          return { path: real.path, namespace: LAMBDA_ONLY_NAMESPACE, pluginData: index };
        });
      }
      build.onLoad({ filter: PREFLIGHT_FILE }, (args) =>
        args.path.startsWith(ADAPTERS_ROOT)
          ? { contents: preflightStub(args.path), loader: 'js' }
          : undefined,
      );
      build.onLoad({ filter: RDS_SCHEMAS }, (args) => ({
        contents: readFileSync(args.path, 'utf8').replace(RDS_ERROR_REGISTRATIONS, ''),
        loader: 'js',
        resolveDir: dirname(args.path),
      }));
      build.onLoad({ filter: /.*/, namespace: LAMBDA_ONLY_NAMESPACE }, (args) => ({
        contents: REPLACEMENTS[args.pluginData as number]!.contents(args.path),
        loader: 'js',
        resolveDir: dirname(args.path),
      }));
    },
  };
}
