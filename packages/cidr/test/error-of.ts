/** Shared by the cidr tests that assert on the typed error a call throws. */
import { CidrError } from '../src/index.js';

/** errorOf runs fn and returns the CidrError it throws; anything else, or no throw, fails. */
export function errorOf(fn: () => unknown): CidrError {
  try {
    fn();
  } catch (error) {
    if (error instanceof CidrError) return error;
    throw error;
  }
  throw new Error('expected a CidrError');
}
