/** Types of bad-inputs.js (plain JS, served to the browser pages as it is). */
export interface BadCall {
  entry: string;
  expected: string | RegExp | null;
  label: string;
  make(context: BadCallContext): unknown;
}
export interface BadCallContext {
  lib: { FluxError: abstract new (...args: never[]) => Error; [name: string]: unknown };
  generator?: unknown;
  provider?: unknown;
  reached(): number;
}
export interface BadCallResult {
  outcome: 'typed' | 'wrong-field' | 'untyped' | 'accepted' | 'hang';
  label: string;
  error?: string;
}
export function rng(seed: number): () => number;
export function badCalls(seed: number, count: number, entries?: string[]): BadCall[];
export function runBadCall(call: BadCall, context: BadCallContext, timeoutMs?: number): Promise<BadCallResult>;
export function describe(value: unknown): string;
export function namedField(error: unknown): string | undefined;
export const BAD_REQUEST_FIELDS: Record<string, unknown[]>;
export const BAD_EMBEDDINGS: unknown[];
export const UNKNOWN_REQUEST_KEYS: [string, unknown][];
export const BAD_GENERATOR_OPTIONS: Record<string, unknown[]>;
export const BAD_BFL_FIELDS: Record<string, unknown[]>;
export const BAD_OPENAI_FIELDS: Record<string, unknown[]>;
export const BAD_PROVIDER_CONFIGS: Record<string, unknown[]>;
