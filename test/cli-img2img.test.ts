/**
 * `flux-webgpu generate --image … --strength S [--fit …]` as a user runs it: golden
 * img2img-run0 through the CLI (PNG in, and the same picture as lossless WebP), `--dump`
 * with image_latents and the second draw as noise, a JPEG of another size fitted by
 * `--fit cover`, and exit code 2 naming the flag for every bad input.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode as decodePng, encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/formats/safetensors.ts';
import { convertCheckpoint } from '../tools/convert/convert-local.ts';
import { runCli } from './support/cli.ts';
import { maxAbsDiff, percentileAbsDiff, relativeL2 } from './support/compare.ts';
import { goldenTensors, TINY_FLUX_A } from './support/golden.ts';

const work = mkdtempSync(join(tmpdir(), 'flux-cli-img2img-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const model = join(work, 'package');
const goldenFile = `${TINY_FLUX_A}/expected/img2img-run0.safetensors`;
const golden = goldenTensors('img2img-run0');
const initPng = join(work, 'init.png');
const webp = new URL('./fixtures/img2img-run0-init.webp', import.meta.url).pathname;
// golden img2img-run0: 64x64, 4 steps, strength 0.6, seed 42
const run0 = ['--prompt-embeds', goldenFile, '--width', '64', '--height', '64', '--steps', '4', '--seed', '42', '--strength', '0.6'];

beforeAll(async () => {
  await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: model, weights: 'fp32' });
  writeFileSync(initPng, encodePng({ width: 64, height: 64, data: golden.get('init_image_uint8')!.data as Uint8Array, channels: 3, depth: 8 }));
}, 300_000);

describe('generate --image', () => {
  it('reproduces golden img2img-run0 from a PNG and from the same picture as WebP', async () => {
    const [fromPng, fromWebp] = await Promise.all([
      runCli(['generate', '--model', model, ...run0, '--image', initPng, '--out', join(work, 'png.png'), '--dump', join(work, 'dump.safetensors')]),
      runCli(['generate', '--model', model, ...run0, '--image', webp, '--out', join(work, 'webp.png')]),
    ]);
    expect(fromPng.code, fromPng.stderr).toBe(0);
    expect(fromWebp.code, fromWebp.stderr).toBe(0);
    expect(fromPng.stdout).toContain('strength 0.6: 3 of 4 steps run');
    const dump = readSafetensors(readFileSync(join(work, 'dump.safetensors')));
    const d = (key: string) => dump.get(key)!.data as Float32Array;
    const g = (key: string) => golden.get(key)!.data as Float32Array;
    expect(dump.get('image_latents')!.shape).toEqual([1, 16, 8, 8]);
    expect(dump.get('noise')!.shape).toEqual([1, 16, 8, 8]);
    const report = {
      image_latents: relativeL2(d('image_latents'), g('image_latents')),
      vae_encoder_mean: relativeL2(d('vae_encoder_mean'), g('vae_encoder_mean')),
      noise: maxAbsDiff(d('noise'), g('noise')),
      final_packed_latents: relativeL2(d('final_packed_latents'), g('final_packed_latents')),
      image_p99: percentileAbsDiff(dump.get('image_uint8')!.data as Uint8Array, golden.get('image_uint8')!.data as Uint8Array, 99),
    };
    console.log('CLI img2img-run0', report);
    expect(report.image_latents).toBeLessThan(1e-3);
    expect(report.vae_encoder_mean).toBeLessThan(1e-3);
    expect(report.noise).toBeLessThan(1e-5);
    expect(report.final_packed_latents).toBeLessThan(1e-3);
    expect(report.image_p99).toBeLessThanOrEqual(2);
    // The written PNG is the dumped image, and the WebP input gives the same pixels.
    const png = decodePng(readFileSync(join(work, 'png.png')));
    expect(Buffer.from(png.data)).toEqual(Buffer.from(dump.get('image_uint8')!.data as Uint8Array));
    expect(Buffer.from(decodePng(readFileSync(join(work, 'webp.png'))).data)).toEqual(Buffer.from(png.data));
  }, 240_000);

  it('fits a JPEG of another size with --fit cover and refuses it without --fit', async () => {
    const width = 80;
    const height = 40;
    const rgba = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) rgba.set([(i * 7) % 256, (i * 13) % 256, (i * 3) % 256, 255], i * 4);
    const jpg = join(work, 'wide.jpg');
    writeFileSync(jpg, jpeg.encode({ width, height, data: rgba }, 90).data);
    const base = ['generate', '--model', model, '--prompt-embeds', goldenFile, '--steps', '1', '--seed', '1', '--width', '32', '--height', '32', '--image', jpg];
    const [fitted, refused] = await Promise.all([runCli([...base, '--fit', 'cover', '--out', join(work, 'fit.png')]), runCli([...base, '--out', join(work, 'nofit.png')])]);
    expect(fitted.code, fitted.stderr).toBe(0);
    expect(fitted.stdout).toContain('fitted by cover');
    const out = decodePng(readFileSync(join(work, 'fit.png')));
    expect([out.width, out.height]).toEqual([32, 32]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--image must be a picture of exactly 32x32.*--fit cover\|contain\|fill.*80x40/);
  }, 240_000);

  it('exits 2 naming the flag for a bad strength, fit or picture', async () => {
    const base = ['generate', '--model', model, '--prompt-embeds', goldenFile, '--width', '64', '--height', '64', '--out', join(work, 'bad.png')];
    const notAnImage = join(work, 'not-an-image.png');
    writeFileSync(notAnImage, 'hello');
    const cases: [string[], RegExp][] = [
      [['--image', initPng, '--strength', '0'], /--strength must be a number greater than 0 and at most 1/],
      [['--image', initPng, '--strength', '1.5'], /--strength must be/],
      [['--image', initPng, '--strength', 'lots'], /--strength must be/],
      [['--image', initPng, '--fit', 'stretch'], /--fit must be one of cover, contain, fill/],
      [['--image', join(work, 'missing.png')], /--image must be a readable PNG, JPEG or WebP file \(this one: cannot read it \(ENOENT\)\).*missing\.png/],
      [['--image', notAnImage], /--image must be a readable PNG, JPEG or WebP file \(this one: cannot decode it: not a PNG, JPEG or WebP file\)/],
      [['--strength', '0.5'], /--strength needs --image/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli([...base, ...args])));
    for (const [i, result] of results.entries()) {
      expect(result.code, `${cases[i][0].join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(cases[i][1]);
    }
  }, 240_000);
});
