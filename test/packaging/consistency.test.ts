/**
 * The deployment templates agree with the code they deploy: each grants exactly the Secrets Manager
 * operations the bundles send, lets every environment variable the bundled code reads be set, lists
 * every handler, and docs/environment.md documents exactly the variables the code reads.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, buildLambdas, listHandlers, REPO_ROOT } from '../../scripts/build-lambdas.ts';
import {
  documentedVariables,
  environmentVariablesRead,
  operationsInBundle,
  rdsActions,
  samEnvironmentVariables,
  secretsManagerActions,
  secretsManagerOperations,
  terraformEnvironmentVariables,
} from './support/code-facts.ts';

const execFileAsync = promisify(execFile);

/**
 * Variables read by the code that the templates need not set, each with the variable that does
 * the same job there.
 */
const ALIASES: Readonly<Record<string, string>> = {
  // The name AWS's Python templates read; the templates set the SDK's standard name instead.
  SECRETS_MANAGER_ENDPOINT: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
};

/** Variables the templates (or a local run) set that our code does not read itself: the runtime and Powertools read them. */
const RUNTIME_VARIABLES = ['NODE_EXTRA_CA_CERTS', 'POWERTOOLS_METRICS_DISABLED'];

const read = (path: string) => readFile(join(REPO_ROOT, path), 'utf8');

let workDir: string;
let build: BuildResult;
let sam: string;
let terraform: string;
let terraformVariables: string;
let terraformMain: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'consistency-'));
  build = await buildLambdas({ outDir: workDir, enforceBudgets: false });
  sam = await read('deploy/sam/template.yaml');
  terraformVariables = await read('deploy/terraform/variables.tf');
  terraformMain = await read('deploy/terraform/main.tf');
  terraform = `${terraformVariables}\n${terraformMain}`;
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function bundleCode(zipPath: string): Promise<string> {
  const { stdout } = await execFileAsync('unzip', ['-p', zipPath], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

async function variablesReadByBundles() {
  const files = [...new Set(build.lambdas.flatMap((lambda) => lambda.projectInputs))].sort();
  return environmentVariablesRead(files);
}

describe('IAM actions', () => {
  it('each template grants exactly the Secrets Manager operations present in every bundle', async () => {
    const known = await secretsManagerOperations();
    const samActions = secretsManagerActions(sam);
    const terraformActions = secretsManagerActions(terraform);
    for (const lambda of build.lambdas) {
      const inCode = operationsInBundle(await bundleCode(lambda.zipPath), known);
      // Two independent readings of the bundle: its text, and esbuild's record of what went in.
      expect(inCode, `${lambda.name}: operations in the zip's code`).toEqual(lambda.secretsManagerOperations);
      expect(inCode).toContain('DescribeSecret');
      expect(samActions, `${lambda.name} vs deploy/sam/template.yaml`).toEqual(inCode);
      expect(terraformActions, `${lambda.name} vs deploy/terraform`).toEqual(inCode);
    }
  });

  it('each template grants exactly the RDS operations the bundles send (the master rule), only with a master secret', () => {
    const inBundles = [...new Set(build.lambdas.flatMap((lambda) => lambda.rdsOperations))].sort();
    expect(inBundles).toEqual(['DescribeDBClusters', 'DescribeDBInstances']);
    // Only the database alternating-users handlers use master credentials that RDS can vouch for,
    // so only they ask RDS (a Redis master must name its own server: RDS hosts no Redis).
    for (const lambda of build.lambdas) {
      expect(lambda.rdsOperations.length > 0, lambda.name).toBe(
        lambda.name.endsWith('-alternating-users') && !lambda.name.startsWith('redis-'),
      );
    }
    expect(rdsActions(sam)).toEqual(inBundles);
    expect(rdsActions(terraform)).toEqual(inBundles);
    expect(sam).toMatch(/- HasMasterSecret\n\s+- Sid: FindTheMastersServers/);
    expect(terraformMain).toMatch(
      /var\.master_secret_arn == null \? \[\] : \[[\s\S]*?Sid += "FindTheMastersServers"/,
    );
  });

  it('grants exactly the ElastiCache operations the elasticache-user bundle imports, on the listed users only', async () => {
    for (const lambda of build.lambdas) {
      const imported = new Set<string>();
      for (const file of lambda.projectInputs) {
        const text = await read(file);
        for (const [, names] of text.matchAll(
          /import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-elasticache'/g,
        ))
          for (const [, operation] of names!.matchAll(/(\w+)Command\b/g)) imported.add(operation!);
        // Loaded on first use: `const sdk = await import('@aws-sdk/client-elasticache')`, then `sdk.XCommand`.
        const lazy = /const\s+(\w+)\s*=\s*await\s+import\('@aws-sdk\/client-elasticache'\)/.exec(text);
        if (lazy)
          for (const [, operation] of text.matchAll(new RegExp(`\\b${lazy[1]}\\.(\\w+)Command\\b`, 'g')))
            imported.add(operation!);
      }
      const expected = lambda.name === 'elasticache-user' ? ['DescribeUsers', 'ModifyUser'] : [];
      expect([...imported].sort(), lambda.name).toEqual(expected);
    }
    const granted = (template: string) =>
      [...new Set([...template.matchAll(/\belasticache:([A-Z]\w+)/g)].map((m) => m[1]))].sort();
    expect(granted(sam)).toEqual(['DescribeUsers', 'ModifyUser']);
    expect(granted(terraform)).toEqual(['DescribeUsers', 'ModifyUser']);
    expect(sam).toMatch(
      /- HasElastiCacheUsers\n\s+- Sid: ChangeTheElastiCacheUsersPasswords[\s\S]*?Resource: !Ref ElastiCacheUserArns\n/,
    );
    expect(terraformMain).toMatch(
      /var\.elasticache_user_arns == null \? \[\] : \[[\s\S]*?Resource = var\.elasticache_user_arns\n/,
    );
  });

  it('limits KMS to use through Secrets Manager (kms:ViaService) for these secrets only (kms:EncryptionContext:SecretARN) in both templates', () => {
    expect(sam).toMatch(/kms:ViaService: !Sub secretsmanager\.\$\{AWS::Region\}\.amazonaws\.com/);
    expect(terraform).toMatch(/"kms:ViaService" = "secretsmanager\.\$\{[^}]+\}\.amazonaws\.com"/);
    expect(sam).toMatch(
      /kms:EncryptionContext:SecretARN: !If\n\s+- HasMasterSecret\n\s+- \[!Ref SecretArn, !Ref MasterSecretArn\]\n\s+- \[!Ref SecretArn\]/,
    );
    expect(terraform).toContain(
      '"kms:EncryptionContext:SecretARN" = compact([var.secret_arn, var.master_secret_arn])',
    );
    expect(
      [...sam.matchAll(/kms:(\w+)/g)]
        .map((m) => m[1])
        .filter((a) => a !== 'ViaService' && a !== 'EncryptionContext'),
    ).toEqual(['Decrypt', 'GenerateDataKey']);
  });

  it('lets Secrets Manager invoke the function only for this secret (SourceArn) in both templates', () => {
    expect(sam).toMatch(/SecretsManagerInvokePermission:[\s\S]*?SourceArn: !Ref SecretArn\n/);
    expect(terraformMain).toMatch(
      /resource "aws_lambda_permission" "secrets_manager" \{[\s\S]*?source_arn += var\.secret_arn\n/,
    );
  });
});

describe('environment variables', () => {
  it('are read only through the config helpers, with names the scan can resolve', async () => {
    const scan = await variablesReadByBundles();
    expect(scan.unresolved).toEqual([]);
    expect(scan.processEnvOutsideConfig).toEqual([]);
    expect(scan.names).toContain('PASSWORD_LENGTH');
  });

  it('every variable the bundled code reads is settable in the SAM template', async () => {
    const { names } = await variablesReadByBundles();
    const declared = new Set(samEnvironmentVariables(sam));
    const parameters = new Set([...sam.matchAll(/^ {2}(\w+):/gm)].map((match) => match[1]!));
    const missing = names.filter((name) => !declared.has(ALIASES[name] ?? name));
    expect(missing, 'add them under RotationFunction Environment Variables').toEqual([]);
    // Settable: each value comes from a parameter (or a condition on one).
    for (const line of sam.split('\n')) {
      const variable = /^ {10}([A-Z][A-Z0-9_]*): (.+)$/.exec(line);
      if (!variable) continue;
      const refs = [...variable[2]!.matchAll(/!Ref (\w+)|\[(\w+),/g)].map((m) => (m[1] ?? m[2])!);
      const fromParameter = refs.some((ref) => parameters.has(ref) && ref !== 'AWS');
      if (variable[1] !== 'NODE_EXTRA_CA_CERTS')
        expect(fromParameter, `${variable[1]} is not set from a parameter`).toBe(true);
    }
  });

  it('every variable the bundled code reads is settable in the Terraform module', async () => {
    const { names } = await variablesReadByBundles();
    const declared = new Set(terraformEnvironmentVariables(terraformVariables, terraformMain));
    const missing = names.filter((name) => !declared.has(ALIASES[name] ?? name));
    expect(missing, 'add them to the `settings` variable in deploy/terraform/variables.tf').toEqual([]);
  });

  it('the templates set no variable the code does not read', async () => {
    const { names } = await variablesReadByBundles();
    const known = new Set([...names, ...RUNTIME_VARIABLES]);
    expect(samEnvironmentVariables(sam).filter((name) => !known.has(name))).toEqual([]);
    expect(
      terraformEnvironmentVariables(terraformVariables, terraformMain).filter((name) => !known.has(name)),
    ).toEqual([]);
  });
});

/** Every source file of the package: the Lambda code, the CLI, the client and the testing tools. */
async function variablesReadByPackage() {
  const { stdout } = await execFileAsync('git', ['ls-files', 'src'], { cwd: REPO_ROOT });
  const files = stdout.split('\n').filter((path) => path.endsWith('.ts'));
  return environmentVariablesRead(files);
}

describe('docs/environment.md, the one environment-variable reference', () => {
  it('the scan of the whole package resolves every read', async () => {
    // Only the Lambda code is held to "process.env through config.ts" (above); the CLI may hand its
    // whole environment to a child process, which reads no variable by name. Reads by name
    // (`process.env.NAME`) are still found.
    const scan = await variablesReadByPackage();
    expect(scan.unresolved).toEqual([]);
    expect(scan.names).toContain('AWS_PROFILE');
  });

  it('has a row for every variable the code reads (the bundles, the CLI, the client)', async () => {
    const { names } = await variablesReadByPackage();
    const documented = documentedVariables(await read('docs/environment.md'));
    const bundled = (await variablesReadByBundles()).names;
    const missing = [...new Set([...names, ...bundled])].filter((name) => !documented.has(name)).sort();
    expect(missing, 'add a row to docs/environment.md (first column: `NAME`)').toEqual([]);
  });

  it('has no row for a variable that neither the code nor the runtime reads', async () => {
    const { names } = await variablesReadByPackage();
    const known = new Set([...names, ...RUNTIME_VARIABLES]);
    const documented = documentedVariables(await read('docs/environment.md'));
    expect([...documented].filter((name) => !known.has(name)).sort()).toEqual([]);
  });

  it('lists the runtime-only variables in its own table', async () => {
    const page = await read('docs/environment.md');
    const runtimeTable = page.slice(page.indexOf('## Read by the runtime'));
    expect([...documentedVariables(runtimeTable)].sort()).toEqual([...RUNTIME_VARIABLES].sort());
  });
});

describe('handlers and runtime', () => {
  it('both templates offer exactly the handlers of handlers/, and custom for a zip of `secrets-rotator build`', async () => {
    const handlers = [...(await listHandlers()), 'custom'].sort();
    const samBlock = /HandlerName:[\s\S]*?AllowedValues:\n((?:\s+- [\w-]+\n)+)/.exec(sam);
    expect(samBlock, 'HandlerName AllowedValues in the SAM template').not.toBeNull();
    expect([...samBlock![1]!.matchAll(/- ([\w-]+)/g)].map((m) => m[1]).sort()).toEqual(handlers);
    const tfBlock = /variable "handler"[\s\S]*?contains\(\[([\s\S]*?)\]/.exec(terraformVariables);
    expect(tfBlock, 'the handler validation in variables.tf').not.toBeNull();
    expect([...tfBlock![1]!.matchAll(/"([\w-]+)"/g)].map((m) => m[1]).sort()).toEqual(handlers);
  });

  it('both templates run index.handler on nodejs22.x, the target of the bundles', () => {
    expect(sam).toMatch(/Handler: index\.handler/);
    expect(sam).toMatch(/Runtime: nodejs22\.x/);
    expect(terraformMain).toMatch(/handler\s+= "index\.handler"/);
    expect(terraformMain).toMatch(/runtime\s+= "nodejs22\.x"/);
  });

  it('both templates let Secrets Manager invoke the function only from this account', () => {
    expect(sam).toMatch(/Principal: secretsmanager\.amazonaws\.com\n\s+SourceAccount: !Ref AWS::AccountId/);
    expect(terraformMain).toMatch(/principal\s+= "secretsmanager\.amazonaws\.com"\n\s+source_account\s+=/);
  });

  it('both templates alert on RotationFailed, RotationAbandoned and TestRotationFailed', () => {
    for (const template of [sam, terraformMain]) {
      expect(template).toMatch(/RotationFailed.*RotationAbandoned.*TestRotationFailed/);
      expect(template).toContain('RotationStepFailed');
    }
  });
});

const hasTool = async (tool: string) =>
  execFileAsync('sh', ['-c', `command -v ${tool}`]).then(
    () => true,
    () => false,
  );

describe('template linters (when installed)', async () => {
  it.skipIf(!(await hasTool('cfn-lint')))('cfn-lint accepts the SAM template', async () => {
    await expect(
      execFileAsync('cfn-lint', [join(REPO_ROOT, 'deploy/sam/template.yaml')]),
    ).resolves.toBeDefined();
  });

  it.skipIf(!(await hasTool('terraform')))('the Terraform module is formatted (terraform fmt)', async () => {
    await expect(
      execFileAsync('terraform', ['fmt', '-check', '-recursive', join(REPO_ROOT, 'deploy/terraform')]),
    ).resolves.toBeDefined();
  });
});
