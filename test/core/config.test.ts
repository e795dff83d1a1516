import { describe, expect, it } from 'vitest';
import {
  envBoolean,
  envChoice,
  envInteger,
  envList,
  envString,
  secretsManagerEndpoint,
} from '../../src/core/config.ts';
import { ConfigurationError } from '../../src/core/errors.ts';

describe('environment helpers', () => {
  it('treats empty and blank values as unset', () => {
    expect(envString({ A: '  ' }, 'A')).toBeUndefined();
    expect(envString({ A: ' x ' }, 'A')).toBe('x');
  });

  it.each(['true', 'TRUE', '1', 'y', 'Yes'])('reads %s as true', (word) => {
    expect(envBoolean({ B: word }, 'B', false)).toBe(true);
  });

  it.each(['false', 'False', '0', 'n', 'NO'])('reads %s as false', (word) => {
    expect(envBoolean({ B: word }, 'B', true)).toBe(false);
  });

  it('refuses other boolean words instead of reading them as false', () => {
    expect(() => envBoolean({ B: 'maybe' }, 'B', false)).toThrow(ConfigurationError);
    expect(() => envBoolean({ B: 'maybe' }, 'B', false)).toThrow(
      'B must be true/1/y/yes or false/0/n/no, got "maybe"',
    );
  });

  it('bounds integers and names the variable', () => {
    expect(envInteger({}, 'N', { default: 7, min: 1, max: 9 })).toBe(7);
    expect(envInteger({ N: '9' }, 'N', { default: 7, min: 1, max: 9 })).toBe(9);
    expect(() => envInteger({ N: '10' }, 'N', { default: 7, min: 1, max: 9 })).toThrow(
      'N must be a whole number from 1 to 9, got "10"',
    );
    expect(() => envInteger({ N: '1e3' }, 'N', { default: 7, min: 1, max: 9999 })).toThrow(/got "1e3"/);
  });

  it('splits lists and drops empty entries', () => {
    expect(envList({ L: 'a, b,,c ' }, 'L')).toEqual(['a', 'b', 'c']);
    expect(envList({}, 'L')).toBeUndefined();
  });

  it('accepts only listed choices', () => {
    expect(envChoice({ C: 'Two' }, 'C', ['one', 'two'], 'one')).toBe('two');
    expect(() => envChoice({ C: 'three' }, 'C', ['one', 'two'], 'one')).toThrow(
      'C must be one of one, two, got "three"',
    );
  });
});

describe('Secrets Manager endpoint override', () => {
  it('prefers the SDK standard variable', () => {
    expect(
      secretsManagerEndpoint({
        AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:1',
        SECRETS_MANAGER_ENDPOINT: 'http://127.0.0.1:2',
      }),
    ).toBe('http://127.0.0.1:1');
  });

  it('honours the variable of AWS templates', () => {
    expect(secretsManagerEndpoint({ SECRETS_MANAGER_ENDPOINT: 'https://vpce.example' })).toBe(
      'https://vpce.example',
    );
  });

  it('leaves the SDK default when neither is set', () => {
    expect(secretsManagerEndpoint({})).toBeUndefined();
  });

  it('refuses a value that is not a URL, naming the variable', () => {
    expect(() => secretsManagerEndpoint({ SECRETS_MANAGER_ENDPOINT: 'localhost:4566' })).toThrow(
      /^SECRETS_MANAGER_ENDPOINT must be an http:\/\/ or https:\/\/ URL/,
    );
  });
});
