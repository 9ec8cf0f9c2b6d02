/**
 * The conversion plan (what `openSink` receives before the first tensor byte) against
 * what the conversion then really does, from a fake Hub: every byte it still fetches is
 * in the plan (per file, exactly), the graphs are the manifest's, the largest weight
 * buffer is the manifest's, and the weight estimate is within 2 % of what is written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversionPlan } from '../src/convert/conversion-plan.ts';
import { convertToPackage } from '../src/convert/convert.ts';
import { openHubRepository, openHubSourceFile, type HubOptions } from '../src/convert/hub-files.ts';
import type { WeightPrecision } from '../src/package/manifest.ts';
import { openFolderSink } from '../tools/convert/folder-sink.ts';
import { startFakeHub, type FakeHub } from './support/fake-hub.ts';
import { TINY, tinyHubRepos } from './support/hub-fixtures.ts';

const work = mkdtempSync(join(tmpdir(), 'flux-plan-'));
let hub: FakeHub;
let counter = 0;

beforeAll(async () => {
  hub = await startFakeHub((await tinyHubRepos(work)).repos);
}, 60_000);
afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

/** Converts with a plan recorded at `openSink` and the bytes fetched per file before and after it. */
async function convertWithPlan(weights: WeightPrecision, overrides: { transformer?: string; textEncoder2?: string } = {}) {
  const fetched = new Map<string, number>();
  let afterPlan: Map<string, number> | undefined;
  const options: HubOptions = {
    hubUrl: hub.hubUrl,
    retryDelayMs: 1,
    onBytes: (label, bytes) => {
      const into = afterPlan ?? fetched;
      into.set(label, (into.get(label) ?? 0) + bytes);
    },
  };
  let plan: ConversionPlan | undefined;
  const manifest = await convertToPackage({
    checkpoint: await openHubRepository(TINY.repo, 'main', options),
    transformer: overrides.transformer ? await openHubSourceFile(overrides.transformer, 'transformer', options) : undefined,
    textEncoder2: overrides.textEncoder2 ? await openHubSourceFile(overrides.textEncoder2, 'textEncoder2', options) : undefined,
    weights,
    modelId: 'tiny',
    openSink: async (p) => {
      plan = p;
      afterPlan = new Map();
      return openFolderSink(join(work, `out-${counter++}`));
    },
  });
  return { plan: plan!, manifest, afterPlan: Object.fromEntries(afterPlan!), beforePlan: Object.fromEntries(fetched) };
}

describe('the conversion plan', () => {
  for (const [label, weights, overrides] of [
    ['diffusers repository, q4', 'q4', {}],
    ['GGUF Q4_0/Q8_0 transformer + GGUF Q8_0 T5, q4', 'q4', { transformer: `hf:${TINY.ggufRepo}/${TINY.gguf}`, textEncoder2: `hf:${TINY.t5Repo}/${TINY.t5Gguf}` }],
    ['diffusers repository, fp16', 'fp16', {}],
  ] as const) {
    it(`${label}: fetches exactly the planned bytes per file; graphs, largest buffer and weight bytes as planned`, async () => {
      const { plan, manifest, afterPlan, beforePlan } = await convertWithPlan(weights, overrides);
      expect(afterPlan).toEqual(plan.reads);
      expect(plan.readBytes).toBe(Object.values(plan.reads).reduce((a, b) => a + b, 0));
      expect(plan.graphs).toEqual(manifest.graphs.map((g) => g.name));
      expect(plan.requirements.largestWeightBufferBytes).toBe(manifest.requirements.largestWeightBufferBytes);
      expect(plan.requirements.largestActivationBytesAt1024).toBe(manifest.requirements.largestActivationBytesAt1024);
      const written = manifest.graphs.reduce((sum, g) => sum + g.weightBytes, 0);
      expect(Math.abs(plan.weightBytes - written) / written).toBeLessThan(0.02);
      expect(Math.abs(plan.requirements.totalWeightBytes - manifest.requirements.totalWeightBytes) / manifest.requirements.totalWeightBytes).toBeLessThan(0.02);
      const stored = manifest.files.reduce((sum, f) => sum + f.size, 0);
      expect(plan.storedBytes).toBeGreaterThanOrEqual(stored);
      console.log(
        `${label}: before the plan ${Object.values(beforePlan).reduce((a, b) => a + b, 0)} B (listing excluded: configs, headers), planned ${plan.readBytes} B = fetched after it; ` +
          `weights planned ${plan.weightBytes} B vs written ${written} B; package ${stored} B, planned ${plan.storedBytes} B`,
      );
    }, 60_000);
  }
});
