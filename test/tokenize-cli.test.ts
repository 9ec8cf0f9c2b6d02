/**
 * `flux-webgpu tokenize --model <package dir | checkpoint dir> --prompt … [--json]`:
 * a checkpoint folder with only the real FLUX.1 tokenizer folders must give exactly the
 * reference ids (T5 256, or 512 when its transformer config is guidance-distilled), and a
 * package folder its manifest's tokenizers and lengths.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/package/manifest.ts';
import { PromptTokenizer } from '../src/text/prompt-tokenizer.ts';
import { writeDemoModel } from '../tools/demo/demo-model.ts';

const REAL = fileURLToPath(new URL('../../shared/real-tokenizers/', import.meta.url));
const references: { prompt: string; clip_77: number[]; t5_256: number[]; t5_512: number[] }[] = JSON.parse(readFileSync(join(REAL, 'reference-ids.json'), 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'flux-tokenize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const exec = promisify(execFile);
type CliResult = { code?: number; stdout: string; stderr: string };
const tokenize = (...args: string[]): Promise<CliResult> => exec(process.execPath, ['tools/flux-webgpu.mjs', 'tokenize', ...args]).catch((e) => e);
const json = async (...args: string[]) => {
  const result = await tokenize(...args, '--json');
  expect(result.stderr).toBe('');
  const parsed = JSON.parse(result.stdout) as { clip: { ids: number[]; dropped: string }; t5: { ids: number[]; dropped: string } };
  // Laid out as the spec writes it (and as Python's json.dumps does): ", " and ": ", non-ASCII escaped.
  const text = (value: string) => JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const part = (c: { ids: number[]; dropped: string }) => `{"ids": [${c.ids.join(', ')}], "dropped": ${text(c.dropped)}}`;
  expect(result.stdout).toBe(`{"clip": ${part(parsed.clip)}, "t5": ${part(parsed.t5)}}\n`);
  expect(result.stdout).toMatch(/^[\x20-\x7e]*\n$/);
  return parsed;
};

/** A checkpoint folder with only the tokenizer folders (and optionally a transformer or a scheduler config). */
function checkpoint(name: string, guidanceEmbeds?: boolean, dynamicShifting?: boolean): string {
  const root = join(dir, name);
  cpSync(join(REAL, 'tokenizer'), join(root, 'tokenizer'), { recursive: true });
  cpSync(join(REAL, 'tokenizer_2'), join(root, 'tokenizer_2'), { recursive: true });
  if (guidanceEmbeds !== undefined) {
    mkdirSync(join(root, 'transformer'));
    writeFileSync(join(root, 'transformer', 'config.json'), JSON.stringify({ _class_name: 'FluxTransformer2DModel', guidance_embeds: guidanceEmbeds }));
  }
  if (dynamicShifting !== undefined) {
    mkdirSync(join(root, 'scheduler'));
    writeFileSync(join(root, 'scheduler', 'scheduler_config.json'), JSON.stringify({ _class_name: 'FlowMatchEulerDiscreteScheduler', use_dynamic_shifting: dynamicShifting }));
  }
  return root;
}

describe('tokenize a checkpoint folder (real FLUX.1 tokenizers)', () => {
  let schnell: string;
  let dev: string;
  let bare: string;
  beforeAll(() => {
    schnell = checkpoint('schnell', false);
    dev = checkpoint('dev', true);
    bare = checkpoint('bare');
  });

  it('prints exactly {"clip": {ids, dropped}, "t5": {ids, dropped}} with the reference ids (T5 256 for [schnell])', async () => {
    for (const ref of references.slice(0, 2)) {
      const out = await json('--model', schnell, '--prompt', ref.prompt);
      expect(Object.keys(out)).toEqual(['clip', 't5']);
      expect(Object.keys(out.clip)).toEqual(['ids', 'dropped']);
      expect(Object.keys(out.t5)).toEqual(['ids', 'dropped']);
      expect(out.clip.ids).toEqual(ref.clip_77);
      expect(out.t5.ids).toEqual(ref.t5_256);
      expect(out).toMatchObject({ clip: { dropped: '' }, t5: { dropped: '' } });
    }
    // Non-ASCII dropped text comes out escaped and reads back the same.
    const accented = await json('--model', schnell, '--prompt', Array(80).fill('crème brûlée').join(' '));
    expect(accented.clip.dropped).toMatch(/^((crème|brûlée) )+crème brûlée$/);
  });

  it('gives 512 T5 ids for a guidance-distilled ([dev]) checkpoint and 256 without a transformer config', async () => {
    const long = references.reduce((a, b) => (a.prompt.length >= b.prompt.length ? a : b));
    const devOut = await json('--model', dev, '--prompt', long.prompt);
    expect(devOut.clip.ids).toEqual(long.clip_77);
    expect(devOut.t5.ids).toEqual(long.t5_512);
    // This prompt is longer than CLIP's 75 text tokens: the tail is reported.
    expect(devOut.clip.dropped).toMatch(/octane/);
    expect(devOut.t5.dropped).toBe('');
    const bareOut = await json('--model', bare, '--prompt', references[5].prompt);
    expect(bareOut.t5.ids).toEqual(references[5].t5_256);
    // Without a transformer config, [dev]'s scheduler (dynamic shifting) says 512; [schnell]'s says 256.
    const devScheduler = await json('--model', checkpoint('dev-scheduler', undefined, true), '--prompt', references[5].prompt);
    expect(devScheduler.t5.ids).toEqual(references[5].t5_512);
    const schnellScheduler = await json('--model', checkpoint('schnell-scheduler', undefined, false), '--prompt', references[5].prompt);
    expect(schnellScheduler.t5.ids).toEqual(references[5].t5_256);
  });

  it('prints both encoders and the dropped text for people without --json', async () => {
    const words = [...Array(89).fill('fox'), 'lighthouse'].join(' ');
    const result = await tokenize('--model', schnell, '--prompt', words);
    expect(result.stdout).toMatch(/^clip: 77 ids/m);
    expect(result.stdout).toMatch(/^t5: 256 ids/m);
    expect(result.stdout).toMatch(/^ {2}dropped: "fox( fox)* lighthouse"$/m);
    expect(result.stdout).toMatch(/^ {2}dropped: \(nothing\)$/m);
    expect(result.stdout).toMatch(/^T5: \d+ \/ 256 tokens; CLIP: 77 \/ 77 tokens \(\d+ needed\), keeps the first 75 of 90 words$/m);
  });

  it('refuses a folder that is neither a package nor a checkpoint, and a missing --prompt (exit 2)', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const neither = await tokenize('--model', empty, '--prompt', 'x');
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/--model must be a model package folder .*tokenizer_2/);
    const noPrompt = await tokenize('--model', schnell);
    expect(noPrompt.code).toBe(2);
    expect(noPrompt.stderr).toMatch(/--prompt is required/);
  });
});

describe('tokenize a package folder', () => {
  let pkg: string;
  let manifest: Manifest;
  beforeAll(async () => {
    pkg = join(dir, 'demo');
    manifest = await writeDemoModel({ out: pkg, weights: 'fp32' });
  }, 120_000);

  it("uses the package's own tokenizers and the lengths in its manifest", async () => {
    const files = (entry: { tokenizerJson: string; tokenizerConfig: string }) => ({
      tokenizerJson: JSON.parse(readFileSync(join(pkg, entry.tokenizerJson), 'utf8')),
      tokenizerConfig: JSON.parse(readFileSync(join(pkg, entry.tokenizerConfig), 'utf8')),
    });
    const prompt = 'a photo of a cat';
    const clip = new PromptTokenizer('clip', files(manifest.tokenizers!.clip), manifest.tokenizers!.clip.maxLength).tokenize(prompt);
    const t5 = new PromptTokenizer('t5', files(manifest.tokenizers!.t5), manifest.tokenizers!.t5.maxLength).tokenize(prompt);
    const out = await json('--model', pkg, '--prompt', prompt);
    expect(out.clip.ids).toEqual(clip.ids);
    expect(out.t5.ids).toEqual(t5.ids);
    expect(out.t5.ids).toHaveLength(manifest.tokenizers!.t5.maxLength);

    // The T5 length is the manifest's: a package that says 512 gets 512 ids.
    const edited = join(dir, 'demo-512');
    cpSync(pkg, edited, { recursive: true });
    const m = JSON.parse(readFileSync(join(edited, 'manifest.json'), 'utf8')) as Manifest;
    m.tokenizers!.t5.maxLength = 512;
    writeFileSync(join(edited, 'manifest.json'), JSON.stringify(m));
    const out512 = await json('--model', edited, '--prompt', prompt);
    expect(out512.t5.ids).toEqual([...t5.ids, ...Array(512 - t5.ids.length).fill(t5.ids.at(-1))]);
  });
});
