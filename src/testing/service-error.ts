// Errors in the service's shape and the input readers that raise them; never echoing a value.

/** Surfaces through the SDK as the exception class named by `type`. */
export class ServiceError extends Error {
  readonly type: string;
  /** HTTP status: 400 for client errors, 500 for the service's own failures. */
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = 'ServiceError';
    this.type = type;
    this.status = status;
  }
}

export type WireInput = Record<string, unknown>;

export function isObject(value: unknown): value is WireInput {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const errorOf = (type: string) => (message: string) => new ServiceError(type, message);
export const invalidParameter = errorOf('InvalidParameterException');
export const invalidRequest = errorOf('InvalidRequestException');
export const alreadyExists = errorOf('ResourceExistsException');
export const notFound = errorOf('ResourceNotFoundException');

interface StringRule {
  min?: number;
  max?: number;
  pattern?: RegExp;
  patternText?: string;
}

function validation(field: string, problem: string): ServiceError {
  return new ServiceError('ValidationException', `1 validation error detected: ${field} ${problem}`);
}

export function missing(field: string): never {
  throw validation(field, 'must not be null: it is required');
}

/** Checks a field the way the service's model does: ValidationException naming the field. */
export function requireString(input: WireInput, field: string, rule: StringRule = {}): string {
  return optionalString(input, field, rule) ?? missing(field);
}

/** `value` when it is one of `choices`, else a ValidationException naming `field` and the choices. */
export function checkChoice<T extends string>(field: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  const allowed = choices.length === 2 ? `${choices[0]} or ${choices[1]}` : `one of ${choices.join(', ')}`;
  throw validation(field, `must be ${allowed}, got ${value}`);
}

/** Like {@link requireString}, for a field that may be absent. */
export function optionalString(input: WireInput, field: string, rule: StringRule = {}): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw validation(field, `must be a string, got ${typeof value}`);
  const min = rule.min ?? 0;
  if (value.length < min || (rule.max !== undefined && value.length > rule.max)) {
    throw validation(
      field,
      `has length ${value.length}; it must be ${rule.max === undefined ? `at least ${min}` : `from ${min} to ${rule.max}`} characters`,
    );
  }
  if (rule.pattern && !rule.pattern.test(value)) {
    throw validation(
      field,
      `does not match the accepted pattern ${rule.patternText ?? String(rule.pattern)}`,
    );
  }
  return value;
}

export function optionalBoolean(input: WireInput, field: string): boolean | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw validation(field, `must be a boolean, got ${typeof value}`);
  return value;
}

export function optionalInteger(
  input: WireInput,
  field: string,
  min: number,
  max: number,
): number | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw validation(
      field,
      `must be a whole number, got ${typeof value === 'number' ? value : typeof value}`,
    );
  }
  if (value < min || value > max) throw validation(field, `is ${value}; it must be from ${min} to ${max}`);
  return value;
}

export function optionalStringList(
  input: WireInput,
  field: string,
  options: { minItems?: number; maxItems?: number; item?: StringRule } = {},
): string[] | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw validation(field, 'must be a list of strings');
  const { minItems = 0, maxItems = Number.POSITIVE_INFINITY } = options;
  if (value.length < minItems || value.length > maxItems) {
    throw validation(field, `has ${value.length} items; it must have from ${minItems} to ${maxItems}`);
  }
  return value.map((item, index) => {
    const itemField = `${field}[${index}]`;
    return requireString({ [itemField]: item }, itemField, options.item);
  });
}

export function optionalObject(input: WireInput, field: string): WireInput | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw validation(field, 'must be a JSON object');
  return value;
}

export function optionalObjectList(
  input: WireInput,
  field: string,
  maxItems: number,
): WireInput[] | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw validation(field, 'must be a list of JSON objects');
  if (value.length > maxItems)
    throw validation(field, `has ${value.length} items; at most ${maxItems} are accepted`);
  return value.map((item, index) => {
    if (!isObject(item)) throw validation(`${field}[${index}]`, 'must be a JSON object');
    return item;
  });
}
