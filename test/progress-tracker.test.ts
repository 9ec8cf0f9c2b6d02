/** What the widget shows for download retries (src/widget/progress-tracker.ts). */
import { describe, expect, it } from 'vitest';
import { ProgressTracker } from '../src/widget/progress-tracker.ts';

describe('ProgressTracker and download retries', () => {
  it('shows the bytes held and the retry message while a download waits to retry', () => {
    let now = 0;
    const tracker = new ProgressTracker(() => now);
    tracker.update({ stage: 'download', file: 'a.onnx_data', loaded: 10e6, total: 100e6, totalLoaded: 10e6, totalBytes: 100e6 });
    now = 1_000;
    const view = tracker.update({
      stage: 'download', status: 'retrying', file: 'a.onnx_data', loaded: 20e6, total: 100e6, totalLoaded: 20e6, totalBytes: 100e6,
      fault: 'dropped', attempt: 2, maxAttempts: 6, delayMs: 4_000, message: 'the connection dropped; retrying in 4 s (attempt 2 of 6)',
    });
    expect(view.fraction).toBeCloseTo(0.2);
    expect(view.text).toBe('Downloading the model (once) · 20.0 MB of 100 MB · the connection dropped; retrying in 4 s (attempt 2 of 6)');
  });
});
