/**
 * `flux-webgpu decode --model <pkg> --latents <file> [--tile-px P] --out <png> [--dump <file>]`
 * on the tiny-flux-a package: the golden tiled runs, whole decodes, tile sizes that do not
 * divide or exceed the image, and bad flags (exit 2 naming the flag).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decode as decodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../src/formats/safetensors.ts';
import { vaeOutputToRgb } from '../src/pipeline/image.ts';
import { tiledOutputSize, vaeTileGeometry } from '../src/pipeline/vae-tiling.ts';
import { convertCheckpoint } from '../tools/convert/convert-local.ts';
import { relativeL2 } from './support/compare.ts';
import { goldenTensors, TINY_FLUX_A } from './support/golden.ts';

const run = promisify(execFile);
/** Each test starts three or more CLI processes (a few seconds each on an idle machine). */
const CLI_TIMEOUT_MS = 120_000;
const cli = (...args: string[]): Promise<{ code?: number; stdout: string; stderr: string }> =>
  run('node', ['tools/flux-webgpu.mjs', 'decode', ...args]).then((r) => ({ ...r, code: 0 }), (e) => e);

interface TiledRun {
  name: string;
  latent_height: number;
  latent_width: number;
  tile_sample_min_size: number;
}
const TILED_RUNS: TiledRun[] = JSON.parse(readFileSync(join(TINY_FLUX_A, 'golden.json'), 'utf8')).tiled_decode_runs;

let dir: string;
let pkg: string;
const latentsOf = (run: TiledRun) => join(TINY_FLUX_A, 'expected', `${run.name}.safetensors`);
const dumped = (path: string) => readSafetensors(readFileSync(path));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flux-cli-decode-'));
  pkg = join(dir, 'pkg');
  await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: pkg, weights: 'fp32' });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('decode', () => {
  it('matches diffusers tiled_decode for every golden tiled run, and writes the PNG of vae_out', async () => {
    for (const goldenRun of TILED_RUNS) {
      const out = join(dir, `${goldenRun.name}.png`);
      const dump = join(dir, `${goldenRun.name}.safetensors`);
      const result = await cli('--model', pkg, '--latents', latentsOf(goldenRun), '--tile-px', String(goldenRun.tile_sample_min_size), '--out', out, '--dump', dump);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const vaeOut = dumped(dump).get('vae_out')!;
      const expected = goldenTensors(goldenRun.name).get('vae_out_tiled')!;
      expect(vaeOut.dtype).toBe('F32');
      expect(vaeOut.shape).toEqual(expected.shape);
      const error = relativeL2(vaeOut.data as Float32Array, expected.data as Float32Array);
      console.log(`decode --tile-px ${goldenRun.tile_sample_min_size} ${goldenRun.name}: relative L2 ${error.toExponential(2)}`);
      expect(error).toBeLessThan(1e-3);
      const png = decodePng(readFileSync(out));
      const [, , H, W] = vaeOut.shape;
      expect([png.width, png.height, png.channels]).toEqual([W, H, 3]);
      expect(Uint8Array.from(png.data as Uint8Array)).toEqual(vaeOutputToRgb(vaeOut.data as Float32Array, H, W).rgb);
    }
  }, CLI_TIMEOUT_MS);

  it('decodes whole without --tile-px, and with a tile at least as large as the image', async () => {
    const goldenRun = TILED_RUNS[2]; // 12×12 latents
    const whole = goldenTensors(goldenRun.name).get('vae_out_whole')!.data as Float32Array;
    for (const tile of [undefined, '128', '4096']) {
      const dump = join(dir, `whole-${tile}.safetensors`);
      const result = await cli('--model', pkg, '--latents', latentsOf(goldenRun), ...(tile ? ['--tile-px', tile] : []), '--out', join(dir, 'whole.png'), '--dump', dump);
      expect(result.code, result.stderr).toBe(0);
      expect(relativeL2(dumped(dump).get('vae_out')!.data as Float32Array, whole), `--tile-px ${tile}`).toBeLessThan(1e-3);
    }
  }, CLI_TIMEOUT_MS);

  it('takes tiles that do not divide the image (and diffusers-sized output for tiles not a multiple of 32)', async () => {
    const goldenRun = TILED_RUNS[1]; // 6×14 latents
    const dumps: Record<string, Float32Array> = {};
    for (const tile of [48, 40, 96]) {
      const dump = join(dir, `odd-${tile}.safetensors`);
      const result = await cli('--model', pkg, '--latents', latentsOf(goldenRun), '--tile-px', String(tile), '--out', join(dir, `odd-${tile}.png`), '--dump', dump);
      expect(result.code, result.stderr).toBe(0);
      const vaeOut = dumped(dump).get('vae_out')!;
      const geometry = vaeTileGeometry(tile);
      expect(vaeOut.shape).toEqual([1, 3, tiledOutputSize(6, geometry), tiledOutputSize(14, geometry)]);
      if (tile % 32 !== 0) expect(result.stderr).toMatch(new RegExp(`--tile-px ${tile} .*not a multiple of 32`));
      else expect(result.stderr).toBe('');
      dumps[tile] = vaeOut.data as Float32Array;
    }
    // 96 px (12 latents, stride 9) keeps the size but splits the 14 columns in two blended tiles.
    const whole = goldenTensors(goldenRun.name).get('vae_out_whole')!.data as Float32Array;
    expect(dumps[96].length).toBe(whole.length);
    expect(relativeL2(dumps[96], whole)).toBeGreaterThan(1e-3);
  }, CLI_TIMEOUT_MS);

  it('refuses bad values with exit 2 and names the flag', async () => {
    const goldenRun = TILED_RUNS[0];
    const good = ['--model', pkg, '--latents', latentsOf(goldenRun), '--out', join(dir, 'bad.png')];
    const wrongKey = join(dir, 'wrong-key.safetensors');
    writeFileSync(wrongKey, writeSafetensors({ latents: { dtype: 'F32', shape: [1, 16, 2, 2], data: new Float32Array(64) } }));
    const wrongShape = join(dir, 'wrong-shape.safetensors');
    writeFileSync(wrongShape, writeSafetensors({ vae_input: { dtype: 'F32', shape: [1, 4, 2, 2], data: new Float32Array(16) } }));
    const cases: [string[], string][] = [
      [[...good, '--tile-px', '30'], '--tile-px'],
      [[...good, '--tile-px', '36'], '--tile-px'],
      [[...good, '--tile-px', '64px'], '--tile-px'],
      [[...good, '--tile-px'], '--tile-px'],
      [['--model', pkg, '--out', join(dir, 'bad.png')], '--latents'],
      [['--model', pkg, '--latents', join(dir, 'missing.safetensors'), '--out', join(dir, 'bad.png')], '--latents'],
      [['--model', pkg, '--latents', wrongKey, '--out', join(dir, 'bad.png')], '--latents'],
      [['--model', pkg, '--latents', wrongShape, '--out', join(dir, 'bad.png')], '--latents'],
      [['--model', join(dir, 'no-package'), '--latents', latentsOf(goldenRun), '--out', join(dir, 'bad.png')], '--model'],
      [['--latents', latentsOf(goldenRun), '--out', join(dir, 'bad.png')], '--model'],
      [[...good, '--tile', '64'], '--tile'],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    for (const [i, [args, flag]] of cases.entries()) {
      expect(results[i].code, args.join(' ')).toBe(2);
      expect(results[i].stderr, args.join(' ')).toContain(flag);
    }
  }, CLI_TIMEOUT_MS);
});
