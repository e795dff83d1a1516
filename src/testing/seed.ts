// Each seed entry becomes one CreateSecret, so it is checked by the same rules.
import { readFile } from 'node:fs/promises';

/** One secret to create: its name and first value (AWSCURRENT), as CreateSecret takes them. */
interface SeedSecret {
  readonly Name: string;
  /** The first value. An object or array is stored as its JSON text. Absent: a secret with no version. */
  readonly SecretString?: string | Readonly<Record<string, unknown>> | readonly unknown[];
  readonly Description?: string;
  readonly Tags?: ReadonlyArray<{ readonly Key: string; readonly Value: string }>;
}

/** A list of {@link SeedSecret}, or an object mapping each name to its value. */
export type Seed = readonly SeedSecret[] | Readonly<Record<string, unknown>>;

/** The CreateSecret request bodies for a seed, in order. A malformed entry throws an Error naming it. */
export function seedRequests(seed: Seed, source = 'seed'): Array<Record<string, unknown>> {
  if (Array.isArray(seed)) return seed.map((entry, index) => requestFromEntry(entry, `${source}[${index}]`));
  if (seed === null || typeof seed !== 'object') {
    throw new Error(`${source} must be a list of secrets or an object of name → value`);
  }
  return Object.entries(seed).map(([name, value]) => ({ Name: name, SecretString: stringValue(value) }));
}

function requestFromEntry(entry: unknown, where: string): Record<string, unknown> {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new Error(`${where} must be an object with "Name" and "SecretString"`);
  }
  const fields = entry as Record<string, unknown>;
  const unknownField = Object.keys(fields).find(
    (key) => !['Name', 'SecretString', 'Description', 'Tags'].includes(key),
  );
  if (unknownField) {
    throw new Error(
      `${where} has an unknown field "${unknownField}" (use Name, SecretString, Description, Tags)`,
    );
  }
  if (typeof fields.Name !== 'string' || fields.Name === '') {
    throw new Error(`${where}.Name must be the secret's name, e.g. "app/db"`);
  }
  // Unknown fields were refused above; CreateSecret checks the values of Description and Tags.
  const { SecretString } = fields;
  return SecretString === undefined ? { ...fields } : { ...fields, SecretString: stringValue(SecretString) };
}

function stringValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Errors name the file and the position of a syntax error, never the file's content. */
export async function readSeedFile(path: string): Promise<Seed> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`cannot read the seed file ${path}${code ? ` (${code})` : ''}`);
  }
  try {
    return JSON.parse(text) as Seed;
  } catch (error) {
    // The parser's message quotes the text around the error, which may be a secret value.
    const position = /position (\d+)/.exec(String((error as Error).message))?.[1];
    throw new Error(
      `the seed file ${path} is not valid JSON${position ? ` (at character ${position})` : ''}: ` +
        'write a list of {"Name", "SecretString"} objects or an object of name → value',
    );
  }
}
