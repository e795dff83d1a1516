/**
 * The shared-function forms (deploy/sam/shared-function.yaml + attach-secret.yaml, Terraform modules
 * shared-function + attach-secret) agree with the code they deploy: the role grants exactly the
 * Secrets Manager operations every bundle sends, the statements on rotated secrets are bound by
 * `secretsmanager:resource/AllowRotationLambdaArn` to this very function (and the optional tag),
 * master secrets are read only as listed or tagged, and every variable the code reads is settable.
 *
 * Terraform cannot be validated here (`terraform validate` needs the AWS provider, and there is no
 * network for it): the module's text is checked structurally, and `terraform fmt` (run by the
 * consistency test over deploy/terraform, modules included) proves it parses.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, buildLambdas, REPO_ROOT } from '../../scripts/build-lambdas.ts';
import {
  environmentVariablesRead,
  operationsInBundle,
  rdsActions,
  samEnvironmentVariables,
  secretsManagerOperations,
  terraformEnvironmentVariables,
} from './support/code-facts.ts';

const execFileAsync = promisify(execFile);
const read = (path: string) => readFile(join(REPO_ROOT, path), 'utf8');

let workDir: string;
let build: BuildResult;
let samShared: string;
let samAttach: string;
let tfMain: string;
let tfVariables: string;
let tfAttach: string;
/** Operations every bundle sends (they all send the same set; the consistency test checks each). */
let bundleOperations: string[];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'shared-function-'));
  build = await buildLambdas({ outDir: workDir, enforceBudgets: false });
  [samShared, samAttach, tfMain, tfVariables, tfAttach] = await Promise.all([
    read('deploy/sam/shared-function.yaml'),
    read('deploy/sam/attach-secret.yaml'),
    read('deploy/terraform/modules/shared-function/main.tf'),
    read('deploy/terraform/modules/shared-function/variables.tf'),
    read('deploy/terraform/modules/attach-secret/main.tf'),
  ]);
  const known = await secretsManagerOperations();
  const perBundle = await Promise.all(
    build.lambdas.map(async (lambda) => {
      const { stdout } = await execFileAsync('unzip', ['-p', lambda.zipPath], {
        maxBuffer: 64 * 1024 * 1024,
      });
      return operationsInBundle(stdout, known);
    }),
  );
  for (const operations of perBundle) expect(operations).toEqual(perBundle[0]);
  bundleOperations = perBundle[0]!;
}, 120_000);

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface Statement {
  readonly sid: string;
  readonly text: string;
  /** `secretsmanager:<Action>` granted (condition keys such as `secretsmanager:resource/…` excluded). */
  readonly actions: string[];
}

/** The `secretsmanager:<Action>` names in a text, leaving out condition keys (`secretsmanager:x/…`). */
function grantedActions(text: string): string[] {
  return [...new Set([...text.matchAll(/secretsmanager:([A-Za-z*]+)\b(?!\/)/g)].map((m) => m[1]!))].sort();
}

/** The statements of a policy, cut at each `Sid`, from `start` to `end` (both texts in the template). */
function statements(template: string, start: string, end: string): Statement[] {
  const body = template.slice(template.indexOf(start), template.indexOf(end));
  const parts = body.split(/(?=Sid\s*[:=]\s*"?\w)/).slice(1);
  return parts.map((text) => ({
    sid: /Sid\s*[:=]\s*"?(\w+)/.exec(text)![1]!,
    text,
    actions: grantedActions(text),
  }));
}

function checkForm(all: Statement[], functionArn: RegExp) {
  // The master rule's RDS reads: exactly those the alternating-users bundles import.
  const rdsInBundles = [...new Set(build.lambdas.flatMap((lambda) => lambda.rdsOperations))].sort();
  expect(rdsActions(all.map((statement) => statement.text).join('\n'))).toEqual(rdsInBundles);
  const bySid = new Map(all.map((statement) => [statement.sid, statement]));
  // Nothing more: the only statements with Secrets Manager actions are these.
  expect(
    all
      .filter((statement) => statement.actions.length > 0)
      .map((statement) => statement.sid)
      .sort(),
  ).toEqual([
    'GeneratePasswords',
    'ReadListedMasterSecrets',
    'ReadTaggedMasterSecrets',
    'RotateSecretsAttachedToThisFunction',
  ]);
  // Every call the handlers make is allowed: the union is exactly the bundles' operations.
  expect([...new Set(all.flatMap((statement) => statement.actions))].sort()).toEqual(bundleOperations);

  const rotate = bySid.get('RotateSecretsAttachedToThisFunction')!;
  expect(rotate.actions).toEqual(bundleOperations.filter((operation) => operation !== 'GetRandomPassword'));
  expect(rotate.text).toMatch(/secretsmanager:\$\{[^}]+\}:\$\{[^}]+\}:secret:\*|any_secret/);
  // Bound to this function, in every branch of the statement.
  const bindings = [
    ...rotate.text.matchAll(/secretsmanager:resource\/AllowRotationLambdaArn"?\s*[:=]\s*(.+)/g),
  ].map((m) => m[1]!);
  expect(bindings.length).toBeGreaterThan(0);
  for (const binding of bindings) expect(binding).toMatch(functionArn);
  expect(rotate.text).toMatch(/ArnEquals/);
  expect(rotate.text).toMatch(/secretsmanager:ResourceTag\/rotation-group/);

  const passwords = bySid.get('GeneratePasswords')!;
  expect(passwords.actions).toEqual(['GetRandomPassword']);
  expect(passwords.text).toMatch(/Resource\s*[:=]\s*'?"?\*/);

  // Master secrets: read only, listed by ARN or matched by their tag.
  expect(bySid.get('ReadListedMasterSecrets')!.actions).toEqual(['DescribeSecret', 'GetSecretValue']);
  expect(bySid.get('ReadListedMasterSecrets')!.text).toMatch(/MasterSecretArns|master_secret_arns/);
  expect(bySid.get('ReadTaggedMasterSecrets')!.actions).toEqual(['DescribeSecret', 'GetSecretValue']);
  expect(bySid.get('ReadTaggedMasterSecrets')!.text).toMatch(/secretsmanager:ResourceTag\/rotation-master/);
}

async function variablesReadByBundles() {
  const files = [...new Set(build.lambdas.flatMap((lambda) => lambda.projectInputs))].sort();
  return environmentVariablesRead(files);
}

describe('shared function, SAM form', () => {
  it('grants exactly the bundles’ operations, on secrets whose rotation function is this one', () => {
    const policy = statements(samShared, 'PolicyDocument:', 'RotationFunctionLogGroup:');
    // The condition names the function by the name the template gives it.
    expect(samShared).toMatch(/FunctionName: !Sub \$\{AWS::StackName\}-rotator/);
    checkForm(policy, /function:\$\{AWS::StackName\}-rotator$/);
  });

  it('lets every variable the bundled code read be set, checks the tag the role requires, and attaches by schedule only', async () => {
    const { names } = await variablesReadByBundles();
    const declared = new Set(samEnvironmentVariables(samShared));
    expect(
      names.filter((name) => name !== 'SECRETS_MANAGER_ENDPOINT' && !declared.has(name)),
      'add them to deploy/sam/shared-function.yaml as in template.yaml',
    ).toEqual([]);
    // The same settings as the single-secret form, so a new variable is added to both.
    expect(samEnvironmentVariables(samShared), 'shared-function.yaml vs template.yaml').toEqual(
      samEnvironmentVariables(await read('deploy/sam/template.yaml')),
    );
    expect(samShared).toMatch(
      /ALLOWED_SECRET_TAG: !If \[HasRotationGroup, !Sub 'rotation-group=\$\{RotationGroup\}', ''\]/,
    );
    // One function, no schedule of its own; attach-secret holds exactly one schedule and no IAM.
    expect(samShared).not.toMatch(/AWS::SecretsManager::RotationSchedule/);
    expect([...samShared.matchAll(/Type: AWS::Serverless::Function/g)]).toHaveLength(1);
    expect([...samAttach.matchAll(/Type: (AWS::[\w:]+)/g)].map((m) => m[1])).toEqual([
      'AWS::SecretsManager::RotationSchedule',
    ]);
    expect(samAttach).toMatch(/RotationLambdaARN: !Ref RotationFunctionArn/);
  });
});

describe('shared function, Terraform form', () => {
  it('grants exactly the bundles’ operations, on secrets whose rotation function is this one', () => {
    const policy = statements(tfMain, 'statements = concat(', 'resource "aws_iam_role" "rotation"');
    // The rotate statement's condition is a local; check the local itself.
    const rotate = policy.find((statement) => statement.sid === 'RotateSecretsAttachedToThisFunction')!;
    const condition = /attached_condition = merge\(([\s\S]*?)\n {2}\)/.exec(tfMain)![1]!;
    const withCondition = policy.map((statement) =>
      statement === rotate ? { ...statement, text: `${statement.text}\n${condition}` } : statement,
    );
    expect(tfMain).toMatch(
      /function_arn = "arn:\$\{local\.partition\}:lambda:\$\{local\.region\}:\$\{local\.account_id\}:function:\$\{var\.name\}"/,
    );
    expect(tfMain).toMatch(/function_name\s+= var\.name/);
    checkForm(withCondition, /^local\.function_arn/);
  });

  it('lets every variable the bundled code read be set, and attaches by schedule only', async () => {
    const { names } = await variablesReadByBundles();
    const declared = new Set(terraformEnvironmentVariables(tfVariables, tfMain));
    expect(
      names.filter((name) => name !== 'SECRETS_MANAGER_ENDPOINT' && !declared.has(name)),
      'add them to the settings variable of deploy/terraform/modules/shared-function/variables.tf',
    ).toEqual([]);
    expect([...declared].sort(), 'modules/shared-function vs the root module').toEqual(
      terraformEnvironmentVariables(
        await read('deploy/terraform/variables.tf'),
        await read('deploy/terraform/main.tf'),
      ),
    );
    expect(tfMain).not.toMatch(/aws_secretsmanager_secret_rotation/);
    expect([...tfAttach.matchAll(/^resource "(\w+)"/gm)].map((m) => m[1])).toEqual([
      'aws_secretsmanager_secret_rotation',
    ]);
  });
});

const hasTool = async (tool: string) =>
  execFileAsync('sh', ['-c', `command -v ${tool}`]).then(
    () => true,
    () => false,
  );

describe('template linters (when installed)', async () => {
  it.skipIf(!(await hasTool('cfn-lint')))(
    'cfn-lint accepts shared-function.yaml and attach-secret.yaml',
    async () => {
      await expect(
        execFileAsync('cfn-lint', [
          join(REPO_ROOT, 'deploy/sam/shared-function.yaml'),
          join(REPO_ROOT, 'deploy/sam/attach-secret.yaml'),
        ]),
      ).resolves.toBeDefined();
    },
  );
});
