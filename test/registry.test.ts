/** The registry's sizes are those of the packages it names. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatBytes } from '../src/format-bytes.ts';
import { licenseNotice, MODEL_REGISTRY } from '../src/models/registry.ts';
import {
  FLUX_SCHNELL_TEXT_ENCODER,
  FLUX_SCHNELL_TEXT_ENCODER_2,
  FLUX_SCHNELL_TRANSFORMER,
  FLUX_SCHNELL_VAE,
} from '../src/convert/flux-schnell-configs.ts';
import { estimatePackageWeightBytes } from '../src/convert/size-estimate.ts';
import { DEMO_MODEL_ID, demoConfigs, writeDemoModel } from '../tools/demo/demo-model.ts';

const entry = (id: string) => MODEL_REGISTRY.find((m) => m.id === id)!;

describe('model registry', () => {
  it('gives the demo package its exact size, as `demo-model` writes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flux-registry-'));
    try {
      const manifest = await writeDemoModel({ out: join(dir, 'demo') });
      expect(manifest.modelId).toBe(DEMO_MODEL_ID);
      expect(entry(DEMO_MODEL_ID).downloadBytes).toBe(manifest.files.reduce((sum, f) => sum + f.size, 0));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // The estimate leaves out each LayerNorm's constant scale/bias vectors (8·dim bytes):
  // about 1% of this tiny model, about 0.02% of the real one.
  it('estimates weight bytes within 2% of what the converter writes (demo package, every precision)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flux-registry-'));
    const configs = demoConfigs(622, 621, 1211);
    try {
      for (const weights of ['fp32', 'fp16', 'q8', 'q4'] as const) {
        const manifest = await writeDemoModel({ out: join(dir, weights), weights });
        const written = manifest.graphs.reduce((sum, g) => sum + g.weightBytes, 0);
        const estimate = estimatePackageWeightBytes({ transformer: configs.transformer, vae: configs.vae, textEncoder: configs.textEncoder, textEncoder2: configs.textEncoder2 }, weights).total;
        expect(Math.abs(estimate - written) / written).toBeLessThan(0.02);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives FLUX.1 [schnell] q4 the size the converter would write for the published configs', () => {
    const { total, components } = estimatePackageWeightBytes(
      { transformer: FLUX_SCHNELL_TRANSFORMER, vae: FLUX_SCHNELL_VAE, textEncoder: FLUX_SCHNELL_TEXT_ENCODER, textEncoder2: FLUX_SCHNELL_TEXT_ENCODER_2 },
      'q4',
    );
    console.log('FLUX.1 [schnell] q4 estimate:', formatBytes(total), Object.fromEntries(Object.entries(components).map(([k, v]) => [k, formatBytes(v)])));
    const listed = entry('black-forest-labs/FLUX.1-schnell').downloadBytes;
    expect(Math.abs(listed - total) / total).toBeLessThan(0.01);
  });

  it('gives FLUX.1 [dev] q4 the size of the published configs (guidance embedder, T5 at 512) and its non-commercial licence', () => {
    // The published [dev] transformer config differs from [schnell]'s only in guidance_embeds.
    const { total } = estimatePackageWeightBytes(
      { transformer: { ...FLUX_SCHNELL_TRANSFORMER, guidance_embeds: true }, vae: FLUX_SCHNELL_VAE, textEncoder: FLUX_SCHNELL_TEXT_ENCODER, textEncoder2: FLUX_SCHNELL_TEXT_ENCODER_2 },
      'q4',
    );
    const dev = entry('black-forest-labs/FLUX.1-dev');
    console.log('FLUX.1 [dev] q4 estimate:', formatBytes(total));
    expect(Math.abs(dev.downloadBytes - total) / total).toBeLessThan(0.01);
    expect(dev).toMatchObject({ name: 'FLUX.1 [dev] q4', family: 'dev', license: { commercialUse: false } });
    expect(licenseNotice(dev)).toMatch(/^Licence: FLUX\.1 \[dev\] Non-Commercial License: .*non-commercial purposes only/);
    expect(licenseNotice(entry('black-forest-labs/FLUX.1-schnell'))).toBe('Licence: Apache-2.0.');
  });

  it('names every package by a relative URL prefix', () => {
    for (const m of MODEL_REGISTRY) expect(m.url).toMatch(/^[a-z0-9-]+\/[a-z0-9-]+\/$/);
  });
});
