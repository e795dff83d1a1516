/**
 * Facts read from the code and the deployment templates for the consistency test: the environment
 * variables the bundled code reads, the Secrets Manager operations a bundle contains, and what the
 * SAM template and the Terraform module declare.
 *
 * The code reads its environment only through the helpers of src/core/config.ts
 * (`envString(env, NAME)` …) or `env.NAME`, where NAME is a string literal, a constant holding one,
 * or a property of a constant object of names (`POSTGRES_ENV.caBundle`). Anything else is reported
 * as unresolved, so a new way of reading a variable cannot slip past the check.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../scripts/build-lambdas.ts';

const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
const HELPER_CALL =
  /\b(?:env(?:String|Boolean|Integer|List|Choice)|readHostAllowlist|configFromEnv)\(\s*[\w.]+\s*,\s*([^,)]+?)\s*[,)]/g;
const DIRECT_READ = /\benv(?:\.([A-Z][A-Z0-9_]*)\b|\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\])/g;
const PROCESS_ENV_READ = /\bprocess\.env\b/g;
const STRING_CONST = /\b(?:const|let)\s+(\w+)\s*(?::\s*[\w<>]+\s*)?=\s*['"]([A-Z][A-Z0-9_]*)['"]/g;
const ALIAS_CONST = /\b(?:const|let)\s+(\w+)\s*=\s*(\w+)\.(\w+)\s*;/g;
const OBJECT_CONST = /\bconst\s+(\w+)\s*=\s*\{([^{}]*)\}\s*(?:as const)?/g;
const OBJECT_ENTRY = /(\w+)\s*:\s*['"]([A-Z][A-Z0-9_]*)['"]/g;

/** The helper modules pass names through (`envString(env, name)` inside `envBoolean`). */
const HELPER_MODULES = new Set([
  'src/core/config.ts',
  'src/core/allowed-hosts.ts',
  'src/adapters/http-api-key/config.ts',
]);
/** The one module allowed to touch `process.env`. */
const CONFIG_MODULE = 'src/core/config.ts';

/** Source text without comments (TSDoc examples mention `process.env` and helper calls). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** What {@link environmentVariablesRead} found. */
export interface EnvironmentScan {
  /** Every variable name read, sorted. */
  readonly names: readonly string[];
  /** Where each name is read (file paths relative to the repository). */
  readonly where: Readonly<Record<string, readonly string[]>>;
  /** Reads whose variable name could not be determined: `file: expression`. */
  readonly unresolved: readonly string[];
  /** Files other than config.ts that touch `process.env` (the architecture forbids it). */
  readonly processEnvOutsideConfig: readonly string[];
}

/**
 * The environment variables read by the given source files (paths relative to the repository).
 *
 * @example
 * ```ts
 * const scan = await environmentVariablesRead(['src/core/engine.ts', 'src/core/config.ts']);
 * scan.names; // ['ALLOWED_SECRET_IDS', …]
 * ```
 */
export async function environmentVariablesRead(files: readonly string[]): Promise<EnvironmentScan> {
  const sources = new Map<string, string>();
  for (const file of files) sources.set(file, withoutComments(await readFile(join(REPO_ROOT, file), 'utf8')));

  // Constants are resolved across all the files: names are often defined in one module, read in another.
  const constants = new Map<string, Set<string>>();
  const objects = new Map<string, Map<string, string>>();
  const add = (map: Map<string, Set<string>>, key: string, value: string) => {
    map.set(key, (map.get(key) ?? new Set()).add(value));
  };
  for (const text of sources.values()) {
    for (const [, name, value] of text.matchAll(STRING_CONST)) add(constants, name!, value!);
    for (const [, name, body] of text.matchAll(OBJECT_CONST)) {
      const entries = new Map<string, string>();
      for (const [, key, value] of body!.matchAll(OBJECT_ENTRY)) entries.set(key!, value!);
      if (entries.size > 0) objects.set(name!, entries);
    }
  }

  const where = new Map<string, Set<string>>();
  const unresolved: string[] = [];
  const processEnvOutsideConfig: string[] = [];
  for (const [file, text] of sources) {
    // Local aliases (`const name = POSTGRES_ENV.caBundle;`) are resolved within their file.
    const aliases = new Map<string, Set<string>>();
    for (const [, name, object, property] of text.matchAll(ALIAS_CONST)) {
      const value = objects.get(object!)?.get(property!);
      if (value) add(aliases, name!, value);
    }
    const resolve = (expression: string): string[] | undefined => {
      const literal = /^['"`]([A-Z][A-Z0-9_]*)['"`]$/.exec(expression);
      if (literal) return [literal[1]!];
      const member = /^(\w+)\.(\w+)$/.exec(expression);
      if (member) {
        const value = objects.get(member[1]!)?.get(member[2]!);
        return value ? [value] : undefined;
      }
      if (/^\w+$/.test(expression)) {
        const found = aliases.get(expression) ?? constants.get(expression);
        return found ? [...found] : undefined;
      }
      return undefined;
    };
    const record = (name: string) => add(where, name, file);

    for (const match of text.matchAll(HELPER_CALL)) {
      const expression = match[1]!.trim();
      const names = resolve(expression);
      if (names) names.forEach(record);
      else if (!HELPER_MODULES.has(file)) unresolved.push(`${file}: ${match[0].trim()}`);
    }
    for (const [, dotted, bracketed] of text.matchAll(DIRECT_READ)) record((dotted ?? bracketed)!);
    if (file !== CONFIG_MODULE && PROCESS_ENV_READ.test(text)) processEnvOutsideConfig.push(file);
    PROCESS_ENV_READ.lastIndex = 0;
  }

  const names = [...where.keys()].filter((name) => ENV_NAME.test(name)).sort();
  return {
    names,
    where: Object.fromEntries(names.map((name) => [name, [...where.get(name)!].sort()])),
    unresolved,
    processEnvOutsideConfig,
  };
}

/**
 * Every Secrets Manager operation the installed SDK has a command for (`DescribeSecret`, …).
 *
 * @example
 * ```ts
 * (await secretsManagerOperations()).includes('GetSecretValue'); // true
 * ```
 */
export async function secretsManagerOperations(): Promise<string[]> {
  const dir = join(REPO_ROOT, 'node_modules', '@aws-sdk', 'client-secrets-manager', 'dist-es', 'commands');
  return (await readdir(dir))
    .filter((file) => file.endsWith('Command.js'))
    .map((file) => file.slice(0, -'Command.js'.length))
    .sort();
}

/**
 * The Secrets Manager operations whose command a bundle's code defines. A tree-shaken bundle holds
 * only the commands the code sends; each command class is built from its operation name as a string
 * literal, which minification keeps.
 *
 * @example
 * ```ts
 * operationsInBundle(code, await secretsManagerOperations()); // ['DescribeSecret', 'GetRandomPassword', …]
 * ```
 */
export function operationsInBundle(code: string, operations: readonly string[]): string[] {
  return operations.filter((operation) => code.includes(`"${operation}"`)).sort();
}

/**
 * The `rds:*` actions a template grants, sorted and without duplicates.
 *
 * @example
 * ```ts
 * rdsActions(sam); // ['DescribeDBClusters', 'DescribeDBInstances']
 * ```
 */
export function rdsActions(template: string): string[] {
  const actions = new Set<string>();
  for (const [, action] of template.matchAll(/\brds:(Describe[A-Za-z*]+|[A-Z][A-Za-z*]+)/g))
    actions.add(action!);
  return [...actions].sort();
}

/** The `secretsmanager:*` actions a template grants, sorted and without duplicates. */
export function secretsManagerActions(template: string): string[] {
  const actions = new Set<string>();
  for (const [, action] of template.matchAll(/secretsmanager:([A-Za-z*]+)/g)) actions.add(action!);
  return [...actions].sort();
}

/**
 * The environment variable names of the SAM template's function: the keys of its
 * `Environment: Variables:` block.
 *
 * @example
 * ```ts
 * samEnvironmentVariables(await readFile('deploy/sam/template.yaml', 'utf8')); // ['ALLOWED_SECRET_IDS', …]
 * ```
 */
export function samEnvironmentVariables(template: string): string[] {
  const lines = template.split('\n');
  const start = lines.findIndex((line) => /^\s+Variables:\s*$/.test(line));
  if (start < 0) throw new Error('the SAM template has no Environment Variables block');
  const indent = /^(\s*)/.exec(lines[start + 1] ?? '')![1]!.length;
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    const lineIndent = /^(\s*)/.exec(line)![1]!.length;
    if (lineIndent < indent) break;
    if (lineIndent > indent) continue;
    const key = /^\s*([A-Z][A-Z0-9_]*):/.exec(line);
    if (!key) throw new Error(`unexpected line in the SAM Variables block: ${line.trim()}`);
    names.push(key[1]!);
  }
  return names.sort();
}

/**
 * The environment variable names the Terraform module can set: the attributes of the
 * `settings` variable's object type, and the keys the module sets itself in `locals.environment`.
 *
 * @example
 * ```ts
 * terraformEnvironmentVariables(await readFile('deploy/terraform/variables.tf', 'utf8'), mainTf);
 * ```
 */
export function terraformEnvironmentVariables(variablesTf: string, mainTf: string): string[] {
  const names = new Set<string>();
  const settings = /variable\s+"settings"\s*\{[\s\S]*?type\s*=\s*object\(\{([\s\S]*?)\}\)/.exec(variablesTf);
  if (!settings) throw new Error('deploy/terraform/variables.tf has no `settings` object variable');
  for (const [, name] of settings[1]!.matchAll(/^\s*([A-Z][A-Z0-9_]*)\s*=/gm)) names.add(name!);
  const fixed = /module_environment\s*=\s*\{([\s\S]*?)\n\s*\}/.exec(mainTf);
  if (!fixed) throw new Error('deploy/terraform/main.tf has no `module_environment` local');
  for (const [, name] of fixed[1]!.matchAll(/^\s*([A-Z][A-Z0-9_]*)\s*=/gm)) names.add(name!);
  return [...names].sort();
}

/**
 * The environment the SAM template gives the function when every setting keeps its default:
 * each variable empty (the code treats empty as unset), except what the template fills in itself.
 * `NODE_EXTRA_CA_CERTS` is left out (it names a file of the Lambda runtime) and so is the
 * endpoint (tests point it at the local endpoint).
 *
 * @example
 * ```ts
 * const settings = { ...(await samDefaultSettings('my-stack')), PASSWORD_LENGTH: '40' };
 * ```
 */
export async function samDefaultSettings(stackName: string): Promise<Record<string, string>> {
  const template = await readFile(join(REPO_ROOT, 'deploy', 'sam', 'template.yaml'), 'utf8');
  const filled: Record<string, string> = {
    POWERTOOLS_SERVICE_NAME: stackName,
    POWERTOOLS_METRICS_NAMESPACE: 'SecretsRotator',
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
  const settings: Record<string, string> = {};
  for (const name of samEnvironmentVariables(template)) {
    if (name === 'NODE_EXTRA_CA_CERTS' || name === 'AWS_ENDPOINT_URL_SECRETS_MANAGER') continue;
    settings[name] = filled[name] ?? '';
  }
  return settings;
}

/**
 * The variables a Markdown reference documents: every `NAME` in the first cell of a table row.
 *
 * @example
 * ```ts
 * documentedVariables('| `PG_CA_BUNDLE` | … |'); // Set { 'PG_CA_BUNDLE' }
 * ```
 */
export function documentedVariables(markdown: string): Set<string> {
  const names = new Set<string>();
  for (const line of markdown.split('\n')) {
    const firstCell = /^\|([^|]*)\|/.exec(line)?.[1];
    if (!firstCell) continue;
    for (const [, name] of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(name!);
  }
  return names;
}
