/**
 * `{{name}}` templates for request paths, headers and bodies, and RFC 6901 JSON pointers for
 * reading responses. Rendering never logs: the values are keys.
 */
import type { JsonValue } from './config.ts';

/** Values a template may refer to; an undefined value is an error at render time. */
export type TemplateVariables = Readonly<Record<string, string | undefined>>;

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g;

/** The variable names a template refers to; `undefined` for an unmatched `{{`/`}}` or a name not a plain word. */
export function placeholdersIn(text: string): string[] | undefined {
  const names = [...text.matchAll(PLACEHOLDER)].map((match) => match[1]!);
  const rest = text.replace(PLACEHOLDER, '');
  if (rest.includes('{{') || rest.includes('}}')) return undefined;
  return names;
}

/** A template the adapter could not fill: it names the variable, never a value. */
export class MissingVariableError extends Error {
  readonly variable: string;

  constructor(variable: string) {
    super(`template variable {{${variable}}} has no value`);
    this.variable = variable;
    this.name = 'MissingVariableError';
  }
}

/** Fills a template; `encode` applies to inserted values only (`encodeURIComponent` for paths). */
export function render(
  text: string,
  variables: TemplateVariables,
  encode: (value: string) => string = (v) => v,
): string {
  return text.replace(PLACEHOLDER, (_match, name: string) => {
    const value = variables[name];
    if (value === undefined) throw new MissingVariableError(name);
    return encode(value);
  });
}

/** Fills every string leaf of a JSON body template; object keys are left as they are. */
export function renderJson(body: JsonValue, variables: TemplateVariables): JsonValue {
  if (typeof body === 'string') return render(body, variables);
  if (Array.isArray(body)) return body.map((item) => renderJson(item, variables));
  if (body !== null && typeof body === 'object') {
    return Object.fromEntries(
      Object.entries(body).map(([field, item]) => [field, renderJson(item, variables)]),
    );
  }
  return body;
}

/** Reads a value from parsed JSON by RFC 6901 pointer; `undefined` when the path does not exist. */
export function readPointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  let node: unknown = document;
  for (const part of pointer.slice(1).split('/')) {
    const token = part.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) {
      if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
      node = node[Number(token)];
    } else if (node !== null && typeof node === 'object' && Object.hasOwn(node, token)) {
      node = (node as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return node;
}
