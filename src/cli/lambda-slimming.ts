/**
 * Bundle-only replacements that keep the Lambda zips small: parts of dependencies a function running
 * in Lambda never executes are swapped at bundle time for the few lines it does need.
 */
import { dirname } from 'node:path';
import type * as esbuild from 'esbuild';

/** esbuild's namespace for the Lambda credential provider (see {@link lambdaCredentialsOnly}). */
export const LAMBDA_CREDENTIALS_NAMESPACE = 'lambda-credentials';

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
  } catch (error) {
    if (!process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI && !process.env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) {
      throw new CredentialsProviderError(
        'No AWS credentials: this Lambda bundle reads them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, which the Lambda runtime sets (or from AWS_CONTAINER_CREDENTIALS_FULL_URI under SnapStart); set them to run it elsewhere',
        { logger: init.logger, tryNextLink: false },
      );
    }
    return fromHttp(init)();
  }
}, expiresSoon, mayExpire);
`;

/**
 * The esbuild plugin that puts {@link LAMBDA_CREDENTIALS_SOURCE} in place of
 * `@aws-sdk/credential-provider-node`. Its imports resolve from the replaced package's own folder,
 * so they find the same versions the real chain would have used.
 */
export function lambdaCredentialsOnly(): esbuild.Plugin {
  return {
    name: 'lambda-credentials-only',
    setup(build) {
      build.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, async (args) => {
        if (args.pluginData === LAMBDA_CREDENTIALS_NAMESPACE) return undefined;
        const real = await build.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: LAMBDA_CREDENTIALS_NAMESPACE,
        });
        if (real.errors.length > 0) return { errors: real.errors };
        return { path: real.path, namespace: LAMBDA_CREDENTIALS_NAMESPACE };
      });
      build.onLoad({ filter: /.*/, namespace: LAMBDA_CREDENTIALS_NAMESPACE }, (args) => ({
        contents: LAMBDA_CREDENTIALS_SOURCE,
        loader: 'js',
        resolveDir: dirname(args.path),
      }));
    },
  };
}
