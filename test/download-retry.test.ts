/**
 * The retry bookkeeping of model downloads (src/store/download-retry.ts): settings checks,
 * backoff with jitter, Retry-After, the budget in a row and in all, the messages of the
 * `retrying` progress events. The downloads themselves run against real servers in
 * Chromium: test/browser/download-faults.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AbortedError, DownloadError, DownloadRetriesExhaustedError, InvalidParameterError } from '../src/errors.ts';
import { DownloadFault, FileRetries, formatDelay, isRetryableStatus, resolveRetryPolicy, RetryBudget, type DownloadRetryOptions, type RetryNotice } from '../src/store/download-retry.ts';

const URL = 'https://models.example/pkg/a.onnx_data';
const fault = (kind: DownloadFault['kind'] = 'dropped', retryAfterMs?: number) => new DownloadFault(kind, new DownloadError(`${URL}: boom; call again to resume`, URL, kind === 'http' ? 503 : undefined), kind === 'http' ? 503 : undefined, retryAfterMs);

function retries(options: DownloadRetryOptions = {}, random = () => 0.5) {
  const notices: RetryNotice[] = [];
  const budget = new RetryBudget(resolveRetryPolicy([{ retryBaseMs: 4, retryMaxMs: 40, ...options }]));
  return { notices, budget, file: new FileRetries(budget, URL, undefined, (n) => notices.push(n), random) };
}

describe('resolveRetryPolicy', () => {
  it('starts from the defaults and layers the options in order', () => {
    expect(resolveRetryPolicy()).toEqual({ idleTimeoutMs: 30_000, maxRetries: 5, maxTotalRetries: 30, retryBaseMs: 1_000, retryMaxMs: 30_000 });
    expect(resolveRetryPolicy([{ maxRetries: 2 }, undefined, { maxRetries: 0, idleTimeoutMs: 5 }])).toMatchObject({ maxRetries: 0, idleTimeoutMs: 5 });
  });
  it('names the field of a bad value', () => {
    expect(() => resolveRetryPolicy([{ maxRetries: 1.5 }])).toThrow(InvalidParameterError);
    expect(() => resolveRetryPolicy([{ maxRetries: -1 }])).toThrow(/retry\.maxRetries must be a whole number ≥ 0/);
    expect(() => resolveRetryPolicy([{ idleTimeoutMs: 0 }], 'download')).toThrow(/download\.idleTimeoutMs must be a whole number ≥ 1/);
    expect(() => resolveRetryPolicy(['fast' as never])).toThrow(/retry must be an object/);
  });
});

describe('FileRetries', () => {
  it('backs off exponentially within ±25 % jitter, capped, and says so', async () => {
    const low = retries({}, () => 0);
    const high = retries({}, () => 0.999);
    for (let i = 0; i < 5; i++) {
      await low.file.next(fault(), 0);
      await high.file.next(fault(), 0);
    }
    expect(low.notices.map((n) => n.delayMs)).toEqual([3, 6, 12, 24, 40]);
    expect(high.notices.map((n) => n.delayMs)).toEqual([5, 10, 20, 40, 40]);
    expect(low.notices.map((n) => n.attempt)).toEqual([2, 3, 4, 5, 6]);
    expect(low.notices[0]).toMatchObject({ fault: 'dropped', maxAttempts: 6, message: 'the connection dropped; retrying in 0.0 s (attempt 2 of 6)' });
  });

  it('honours Retry-After up to retryMaxMs, and formats waits for people', async () => {
    const { file, notices } = retries();
    await file.next(fault('http', 7), 0);
    await file.next(fault('http', 10_000), 0).catch(() => undefined);
    expect(notices.map((n) => [n.delayMs, n.httpStatus])).toEqual([[7, 503], [40, 503]]);
    expect(notices[0].message).toContain('the server answered HTTP 503');
    expect([formatDelay(4_000), formatDelay(300), formatDelay(180_000)]).toEqual(['4 s', '0.3 s', '3 min']);
  });

  it('gives up after maxRetries in a row with a typed error; new bytes start a new run', async () => {
    const { file } = retries({ maxRetries: 2 });
    await file.next(fault(), 100);
    await file.next(fault(), 100);
    await file.next(fault(), 200); // progress: the count starts again
    await file.next(fault(), 200);
    const error = await file.next(fault('stalled'), 200).catch((e: Error) => e);
    expect(error).toBeInstanceOf(DownloadRetriesExhaustedError);
    expect(error).toMatchObject({ attempts: 5, fault: 'stalled', url: URL });
    expect((error as Error).message).toMatch(/gave up after 5 attempts \(2 retries in a row without progress used up\)/);
  });

  it('the total budget is shared by the files of one call', async () => {
    const { budget } = retries({ maxTotalRetries: 3 });
    const a = new FileRetries(budget, URL, undefined, undefined);
    const b = new FileRetries(budget, URL, undefined, undefined);
    await a.next(fault(), 1);
    await a.next(fault(), 2);
    await b.next(fault(), 1);
    await expect(b.next(fault(), 2)).rejects.toThrow(/the 3 retries of this load/);
  });

  it('with retries off, the fault’s own typed error; an abort during the wait is AbortedError', async () => {
    const off = retries({ maxRetries: 0 });
    await expect(off.file.next(fault('http'), 0)).rejects.toMatchObject({ name: 'DownloadError', status: 503 });
    const controller = new AbortController();
    const budget = new RetryBudget(resolveRetryPolicy([{ retryBaseMs: 60_000, retryMaxMs: 60_000 }]));
    const waiting = new FileRetries(budget, URL, controller.signal, undefined).next(fault(), 0);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
  });

  it('retries 408, 429 and 5xx (not 501/505), nothing else', () => {
    expect([408, 429, 500, 502, 503, 504, 599].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 416, 501, 505].some(isRetryableStatus)).toBe(false);
  });
});
