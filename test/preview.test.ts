/** The live preview: a linear latent → RGB projection of x0 = x − σ·v, attached to denoise events. */
import { describe, expect, it } from 'vitest';
import { runFluxPipeline } from '../src/pipeline/flux-pipeline.ts';
import { packLatents } from '../src/pipeline/latents.ts';
import { previewFromPacked } from '../src/pipeline/preview.ts';
import type { ProgressEvent } from '../src/progress.ts';
import { openNodeRuntime } from '../tools/node-runtime.ts';
import { convertCheckpoint } from '../tools/convert/convert-local.ts';
import { goldenRequest, goldenRuns, TINY_FLUX_A } from './support/golden.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('latent preview', () => {
  it('projects each latent pixel of x0 with the fixed 16×3 map', () => {
    const h = 4;
    const w = 6;
    const latents = new Float32Array(16 * h * w);
    // Only channel 12 (weights 0.0817, 0.0765, 0.0749) is 5 at pixel (1, 3); elsewhere 0.
    latents[(12 * h + 1) * w + 3] = 5;
    const packed = packLatents(latents, 16, h, w);
    const velocity = new Float32Array(packed.length).fill(0.5);
    // x0 = x − σ·v with σ = 0: the velocity must not matter.
    const preview = previewFromPacked(packed, velocity, 0, h, w);
    expect([preview.width, preview.height, preview.rgba.length]).toEqual([w, h, w * h * 4]);
    const at = (y: number, x: number) => Array.from(preview.rgba.slice((y * w + x) * 4, (y * w + x) * 4 + 4));
    const bias = [-0.0329, -0.0718, -0.0851];
    const expected = [0.0817, 0.0765, 0.0749].map((k, i) => Math.round((bias[i] + 5 * k + 1) * 127.5));
    for (let i = 0; i < 3; i++) expect(Math.abs(at(1, 3)[i] - expected[i])).toBeLessThanOrEqual(1);
    expect(at(1, 3)[3]).toBe(255);
    expect(at(0, 0).slice(0, 3)).toEqual(bias.map((b) => Math.round((b + 1) * 127.5)));
    // With σ = 1 and v = x, x0 = 0 everywhere: only the bias is left.
    const zero = previewFromPacked(packed, packed, 1, h, w);
    expect(zero.rgba.slice(0, 3)).toEqual(Uint8ClampedArray.from(bias.map((b) => (b + 1) * 127.5)));
  });

  it('comes with every denoise step when asked, at latent resolution', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flux-preview-'));
    try {
      await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: dir, weights: 'fp32', force: true });
      const runtime = openNodeRuntime(dir);
      const events: ProgressEvent[] = [];
      const run = goldenRuns()[0];
      await runFluxPipeline(runtime, { ...goldenRequest(run), preview: true, onProgress: (e) => events.push(e) });
      await runtime.release();
      const previews = events.flatMap((e) => (e.stage === 'denoise' && e.preview ? [e.preview] : []));
      expect(previews).toHaveLength(run.steps);
      for (const p of previews) expect([p.width, p.height]).toEqual([run.width / 8, run.height / 8]);
      expect(previews[0].rgba).not.toEqual(previews[run.steps - 1].rgba);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
