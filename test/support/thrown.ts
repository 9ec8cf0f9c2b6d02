import { expect } from 'vitest';
import { InvalidParameterError } from '../../src/errors.ts';

/** The InvalidParameterError `fn` throws (the test fails when it throws nothing or something else). */
export function thrownInvalid(fn: () => unknown): InvalidParameterError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidParameterError);
    return error as InvalidParameterError;
  }
  throw new Error('expected an InvalidParameterError; nothing was thrown');
}
