/** Shared pieces of the provider tests. */
import { expect } from 'vitest';
import type { ProviderProgressEvent, ProviderRequest } from '../../src/providers/index.ts';
import type { FakeProvider } from '../support/fake-providers.ts';

/** A key that must only ever appear in the provider's auth header. */
export const KEY = 'sk-test-SECRET-key-0123456789';

/** Fast settings for tests: polls every 5 ms, retries after 20 ms. */
export const FAST = { pollIntervalMs: 5, retryBaseMs: 20, timeoutMs: 10_000 } as const;

/** A request with overridable fields. */
export function request(overrides: Partial<ProviderRequest> = {}): ProviderRequest {
  return { prompt: 'a red fox in the snow', width: 1024, height: 768, numImages: 1, outputFormat: 'png', ...overrides };
}

/** Collects progress events. */
export function progressLog(): { events: ProviderProgressEvent[]; onProgress: (e: ProviderProgressEvent) => void } {
  const events: ProviderProgressEvent[] = [];
  return { events, onProgress: (e) => events.push(e) };
}

/**
 * Checks that the key appears in no URL and no body, that every API request carried it
 * in `header` as `value`, and that result-image fetches carried no credentials at all.
 */
export function expectKeyOnlyInHeaders(fake: FakeProvider, header: string, value: string): void {
  expect(fake.requests.length).toBeGreaterThan(0);
  for (const r of fake.requests) {
    expect(r.url).not.toContain(KEY);
    expect(decodeURIComponent(r.url)).not.toContain(KEY);
    expect(r.rawBody).not.toContain(KEY);
    if (r.phase === 'image') {
      expect(r.headers['x-key']).toBeUndefined();
      expect(r.headers.authorization).toBeUndefined();
    } else {
      expect(r.headers[header]).toBe(value);
    }
  }
}

/** Reads a Blob's bytes. */
export async function bytesOf(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

/** The error a promise rejects with (fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the promise to reject');
}
