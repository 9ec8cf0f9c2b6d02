/** `flux-webgpu generate --provider …` against a fake provider speaking BFL's protocol on 127.0.0.1. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { startFakeProvider } from './support/fake-providers.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'flux-cli-provider-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...args: string[]): Promise<{ code?: number; stdout: string; stderr: string }> => run('node', ['tools/flux-webgpu.mjs', 'generate', ...args]).catch((e) => e);

describe('generate --provider', () => {
  it('generates through BFL (polling_url on another port), reports the size used, keeps the key in a header', async () => {
    const fake = await startFakeProvider('bfl', { pendingPolls: 2, expectKey: 'secret-key-123' });
    try {
      const out = join(dir, 'bfl.png');
      // 1008 is a multiple of 16 (our rule) but not of 32 (BFL's): the nearest allowed size is used and reported.
      const result = await cli('--provider', 'bfl', '--api-key', 'secret-key-123', '--base-url', fake.baseUrl, '--prompt', 'a lighthouse', '--width', '1008', '--height', '768', '--seed', '5', '--out', out);
      expect(result.stderr).toMatch(/note: .*1008/);
      const image = decode(readFileSync(out));
      expect(image.width % 32).toBe(0);
      expect(Math.abs(image.width - 1008)).toBe(16);
      expect(result.stdout).toContain(`wrote ${out} (${image.width}x768, seed 5`);
      expect(fake.phase('poll').length).toBeGreaterThanOrEqual(3);
      for (const request of fake.requests) expect(request.url).not.toContain('secret-key-123');
      expect(fake.phase('submit')[0].headers['x-key']).toBe('secret-key-123');
      expect(fake.phase('submit')[0].body).toMatchObject({ prompt: 'a lighthouse', width: image.width, height: 768, seed: 5 });
      expect(result.stdout).not.toContain('secret-key-123');
    } finally {
      await fake.close();
    }
  });

  it('refuses a size the provider cannot take with --strict (exit 2, names the field)', async () => {
    const fake = await startFakeProvider('bfl');
    try {
      const result = await cli('--provider', 'bfl', '--api-key', 'k', '--base-url', fake.baseUrl, '--prompt', 'x', '--width', '1008', '--height', '768', '--strict', '--out', join(dir, 'strict.png'));
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/width/);
      expect(fake.requests).toHaveLength(0);
    } finally {
      await fake.close();
    }
  });

  it('says what to do about a rejected key (exit 1) and never prints the key', async () => {
    const fake = await startFakeProvider('bfl', { expectKey: 'right' });
    try {
      const result = await cli('--provider', 'bfl', '--api-key', 'wrong-key-456', '--base-url', fake.baseUrl, '--prompt', 'x', '--width', '512', '--height', '512', '--out', join(dir, 'bad.png'));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/key/i);
      expect(result.stderr + result.stdout).not.toContain('wrong-key-456');
    } finally {
      await fake.close();
    }
  });

  it('rejects an unknown provider and local-only flags without --provider (exit 2)', async () => {
    const unknown = await cli('--provider', 'acme', '--prompt', 'x', '--out', join(dir, 'u.png'));
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--provider must be one of bfl, fal, replicate, openai, monica, aimlapi/);
    const stray = await cli('--model', dir, '--prompt', 'x', '--api-key', 'k', '--out', join(dir, 's.png'));
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--api-key is for hosted providers/);
  });
});
