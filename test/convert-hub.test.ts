/**
 * Converting straight from a Hub-like server on 127.0.0.1 (`test/support/fake-hub.ts`:
 * paged file listing, resolve → 302 to a second origin serving Range/ETag/CORS, gated
 * repositories, dropped connections): the diffusers repository, BFL and GGUF overrides
 * by `hf:` reference (also through the CLI), only the needed source files requested,
 * the token only to the Hub, a dropped connection resumed in place, a failed download
 * resumed by the next run, and each refusal as a typed error that says what to do.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHubRepository, parseHubReference, type HubOptions } from '../src/convert/hub-files.ts';
import { CheckpointError, DownloadError, HubError, IntegrityError, InvalidParameterError } from '../src/errors.ts';
import type { Manifest } from '../src/package/manifest.ts';
import { convertCheckpoint, type ConvertOptions } from '../tools/convert/convert-local.ts';
import { listFiles } from './support/checkpoints.ts';
import { startFakeHub, type FakeHub } from './support/fake-hub.ts';
import { TINY_FLUX_A } from './support/golden.ts';
import { writeGguf } from './support/gguf-writer.ts';
import { readNamed, safetensorsOf, toBflTransformer, toLdmVae } from './support/source-layouts.ts';
import { runCli } from './support/cli.ts';

const work = mkdtempSync(join(tmpdir(), 'flux-hub-'));
const GGUF = 'flux1-tiny-F32.gguf';
let hub: FakeHub;
/** Byte ranges of the GGUF's tensors, by BFL name. */
let ggufRanges: Map<string, [number, number]>;
/** The file host path of the GGUF. */
let ggufBlob: string;
let reference: Manifest;
let counter = 0;

beforeAll(async () => {
  const diffusers = new Map<string, Uint8Array>();
  for (const path of listFiles(TINY_FLUX_A)) if (/^(transformer|vae|scheduler)\//.test(path)) diffusers.set(path, new Uint8Array(readFileSync(join(TINY_FLUX_A, path))));
  diffusers.set('model_index.json', new TextEncoder().encode('{"_class_name": "FluxPipeline"}'));
  diffusers.set('flux1-tiny.safetensors', safetensorsOf(toBflTransformer(await readNamed(join(TINY_FLUX_A, 'transformer')), 2, 2)));
  diffusers.set('ae.safetensors', safetensorsOf(toLdmVae(await readNamed(join(TINY_FLUX_A, 'vae')), 4)));
  const gguf = join(work, GGUF);
  ggufRanges = writeGguf(gguf, { 'general.architecture': { type: 'string', value: 'flux' } }, [...toBflTransformer(await readNamed(join(TINY_FLUX_A, 'transformer')), 2, 2)].map(([name, t]) => ({ name, shape: t.shape, values: t.values, type: 'F32' as const }))).ranges;
  ggufBlob = `/blobs/${createHash('sha256').update(readFileSync(gguf)).digest('hex')}`;
  hub = await startFakeHub(
    {
      'test-org/tiny-flux': { files: diffusers },
      'test-org/tiny-flux-gguf': { files: new Map([[GGUF, new Uint8Array(readFileSync(gguf))], ['README.md', new TextEncoder().encode('# tiny')]]) },
      'test-org/gated-flux': { files: diffusers, gated: true },
    },
    { tokens: { hf_good: ['test-org/gated-flux'], hf_other: [] }, pageSize: 4 },
  );
  reference = await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: join(work, 'reference'), weights: 'fp32', modelId: 'tiny' });
}, 60_000);
afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

const hubOptions = (extra: HubOptions = {}): HubOptions => ({ hubUrl: hub.hubUrl, retries: 3, retryDelayMs: 1, ...extra });

async function convertFromHub(options: Omit<ConvertOptions, 'out'>): Promise<{ out: string; manifest: Manifest; logged: string[] }> {
  const out = join(work, `out-${counter++}`);
  const logged: string[] = [];
  const manifest = await convertCheckpoint({ weights: 'fp32', modelId: 'tiny', ...options, hub: { ...hubOptions(), ...options.hub }, out, log: (l) => logged.push(l) });
  return { out, manifest, logged };
}

/** The requests made while `run` runs. */
async function requestsDuring<T>(run: () => Promise<T>): Promise<{ result: T; requests: FakeHub['requests'] }> {
  const before = hub.requests.length;
  const result = await run();
  return { result, requests: hub.requests.slice(before) };
}

describe('a diffusers repository by hf: reference', () => {
  it('converts to the same package as the local folder, requesting only the files it reads, the token only to the Hub', async () => {
    const { result, requests } = await requestsDuring(() => convertFromHub({ checkpoint: 'hf:test-org/tiny-flux', hub: { token: 'hf_good' } }));
    expect(result.manifest.files).toEqual(reference.files);
    const hubPaths = new Set(requests.filter((r) => r.host === 'hub').map((r) => r.path));
    expect([...hubPaths].sort()).toEqual(
      [
        '/api/models/test-org/tiny-flux/tree/main',
        ...['scheduler/scheduler_config.json', 'transformer/config.json', 'transformer/diffusion_pytorch_model.safetensors', 'vae/config.json', 'vae/diffusion_pytorch_model.safetensors'].map((p) => `/test-org/tiny-flux/resolve/main/${p}`),
      ].sort(),
    );
    // The listing came in pages of 4 (several requests to the same path).
    expect(requests.filter((r) => r.path === '/api/models/test-org/tiny-flux/tree/main').length).toBeGreaterThan(1);
    const cdn = requests.filter((r) => r.host === 'cdn');
    expect(cdn.length).toBeGreaterThan(0);
    expect(cdn.every((r) => r.authorization === undefined)).toBe(true);
    expect(requests.filter((r) => r.host === 'hub').every((r) => r.authorization === 'Bearer hf_good')).toBe(true);
    expect(cdn.every((r) => /^bytes=\d+-\d+$/.test(r.range ?? ''))).toBe(true);
  });

  it('a missing repository, revision or file, and gated access, are typed errors that say what to do', async () => {
    const fail = (o: Omit<ConvertOptions, 'out'>) => convertFromHub(o).catch((e) => e);
    const missing = await fail({ checkpoint: 'hf:test-org/nope' });
    expect(missing).toBeInstanceOf(HubError);
    expect([missing.reason, missing.status]).toEqual(['repo-not-found', 401]);
    expect(missing.message).toMatch(/hf:test-org\/nope was not found/);
    expect(missing.message).toMatch(/--hf-token/);

    const revision = await fail({ checkpoint: 'hf:test-org/tiny-flux@v9' });
    expect([revision.reason, revision.status]).toEqual(['revision-not-found', 404]);

    const file = await fail({ checkpoint: 'hf:test-org/tiny-flux', transformer: 'hf:test-org/tiny-flux-gguf/flux1-tiny-Q9.gguf' });
    expect(file).toBeInstanceOf(CheckpointError);
    expect(file.message).toContain(GGUF); // lists the repository's weight files

    const gated = await fail({ checkpoint: 'hf:test-org/gated-flux' });
    expect([gated.reason, gated.status]).toEqual(['gated', 401]);
    expect(gated.message).toMatch(/accept its conditions/);
    expect(gated.message).toContain(`${hub.hubUrl}/test-org/gated-flux`);
    const other = await fail({ checkpoint: 'hf:test-org/gated-flux', hub: { token: 'hf_other' } });
    expect([other.reason, other.status]).toEqual(['gated', 403]);
    const bad = await fail({ checkpoint: 'hf:test-org/gated-flux', hub: { token: 'hf_wrong' } });
    expect([bad.reason, bad.status]).toEqual(['token-rejected', 401]);
    for (const e of [missing, gated, other, bad]) expect(e.message).not.toMatch(/hf_(good|other|wrong)/);

    const repo = await openHubRepository('test-org/gated-flux', 'main', hubOptions({ token: 'hf_good' }));
    expect(await repo.exists('transformer/config.json')).toBe(true);
  });

  it('a corrupted file fails its Hub hash; a host that ignores Range is refused', async () => {
    hub.faults.corrupt = { path: 'transformer/config.json' };
    const corrupt = await convertFromHub({ checkpoint: 'hf:test-org/tiny-flux' }).catch((e) => e);
    hub.faults.corrupt = undefined;
    expect(corrupt).toBeInstanceOf(IntegrityError);
    expect(corrupt.message).toContain('hf:test-org/tiny-flux/transformer/config.json');

    hub.faults.ignoreRange = { path: 'transformer/diffusion_pytorch_model.safetensors' };
    const ignored = await convertFromHub({ checkpoint: 'hf:test-org/tiny-flux' }).catch((e) => e);
    hub.faults.ignoreRange = undefined;
    expect(ignored).toBeInstanceOf(DownloadError);
    expect(ignored.message).toMatch(/ignored the Range/);
  });
});

describe('overrides by hf: reference', () => {
  it('GGUF transformer + ae.safetensors: the same data, and no request for the replaced weights', async () => {
    const { result, requests } = await requestsDuring(() =>
      convertFromHub({ checkpoint: 'hf:test-org/tiny-flux', transformer: `hf:test-org/tiny-flux-gguf/${GGUF}`, vae: 'hf:test-org/tiny-flux/ae.safetensors' }),
    );
    expect(result.manifest.files.filter((f) => f.path.endsWith('.onnx_data'))).toEqual(reference.files.filter((f) => f.path.endsWith('.onnx_data')));
    const paths = requests.map((r) => r.path).join('\n');
    expect(paths).not.toMatch(/diffusion_pytorch_model\.safetensors|flux1-tiny\.safetensors|README|model_index/);
    expect(paths).toMatch(/resolve\/main\/flux1-tiny-F32\.gguf/);
    expect(paths).toMatch(/resolve\/main\/ae\.safetensors/);
  });

  it('a connection dropped in the middle of a tensor resumes from the byte it reached, re-fetching nothing else', async () => {
    hub.faults.drop = { path: GGUF, afterBytes: 1500, times: 1, skip: 3 };
    const { result, requests } = await requestsDuring(() => convertFromHub({ checkpoint: 'hf:test-org/tiny-flux', transformer: `hf:test-org/tiny-flux-gguf/${GGUF}` }));
    expect(hub.faults.drop.times).toBe(0); // it did drop
    hub.faults.drop = undefined;
    expect(result.manifest.files.filter((f) => f.path.endsWith('.onnx_data'))).toEqual(reference.files.filter((f) => f.path.endsWith('.onnx_data')));
    const ranges = requests.filter((r) => r.host === 'cdn' && r.path === ggufBlob).map((r) => /bytes=(\d+)-(\d+)/.exec(r.range!)!.slice(1).map(Number));
    // One tensor's read was dropped after 1500 bytes and asked again from there to its end.
    const resumed = ranges.filter(([start, end]) => ranges.some(([s, e]) => s + 1500 === start && e === end));
    expect(resumed.length).toBe(1);
    const [start, end] = resumed[0];
    expect([...ggufRanges.values()].some(([begin, stop]) => begin === start - 1500 && stop === end + 1)).toBe(true);
    const keys = ranges.map((r) => r.join('-'));
    expect(new Set(keys).size).toBe(keys.length); // no range asked twice
  });

  it('through the CLI, with the token from HF_TOKEN never printed', async () => {
    const out = join(work, 'cli');
    const r = await runCli(
      ['convert', '--checkpoint', 'hf:test-org/gated-flux', '--transformer', `hf:test-org/tiny-flux-gguf/${GGUF}`, '--vae', 'hf:test-org/gated-flux/ae.safetensors', '--out', out, '--weights', 'fp32', '--hub-url', hub.hubUrl],
      { HF_TOKEN: 'hf_good' },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/MiB downloaded/);
    expect(`${r.stdout}${r.stderr}`).not.toContain('hf_good');
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.files.filter((f) => f.path.endsWith('.onnx_data'))).toEqual(reference.files.filter((f) => f.path.endsWith('.onnx_data')));
  }, 60_000);
});

describe('a failed download', () => {
  it('keeps what was converted (no package), and the same call resumes at the graph it stopped at', async () => {
    const out = join(work, 'resume');
    const options: ConvertOptions = { checkpoint: 'hf:test-org/tiny-flux', transformer: `hf:test-org/tiny-flux-gguf/${GGUF}`, out, weights: 'fp32', hub: hubOptions({ retries: 2 }) };
    hub.faults.drop = { path: GGUF, afterBytes: 100, times: 1000, skip: 40 };
    const { result: error, requests: first } = await requestsDuring(() => convertCheckpoint(options).catch((e) => e));
    hub.faults.drop = undefined;
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message).toMatch(/run again/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(work)).toContain('resume.partial');
    expect(existsSync(join(`${out}.partial`, 'manifest.json'))).toBe(false);
    const state = JSON.parse(readFileSync(join(`${out}.partial`, 'conversion-state.json'), 'utf8'));
    expect(state.graphs.length).toBeGreaterThan(0);

    const logged: string[] = [];
    const { result: manifest, requests: second } = await requestsDuring(() => convertCheckpoint({ ...options, log: (l) => logged.push(l) }));
    expect(logged.join('\n')).toMatch(new RegExp(`resuming: ${state.graphs.length} already converted`));
    expect(manifest.files.filter((f) => f.path.endsWith('.onnx_data'))).toEqual(reference.files.filter((f) => f.path.endsWith('.onnx_data')));
    expect(readdirSync(work)).not.toContain('resume.partial');
    // The graphs kept were not downloaded again: none of their tensors' ranges is asked in the second run.
    const keptTensors = (graph: { entry: { name: string; blocks?: { double: number[]; single: number[] } } }): RegExp => {
      if (graph.entry.name === 'transformer_embed') return /^(img_in|txt_in|time_in|vector_in)\./;
      if (graph.entry.name === 'transformer_head') return /^final_layer\./;
      const { double, single } = graph.entry.blocks!;
      const within = (kind: string, [a, b]: number[]) => Array.from({ length: b - a }, (_, i) => `${kind}\\.${a + i}\\.`);
      return new RegExp(`^(${[...within('double_blocks', double), ...within('single_blocks', single)].join('|')})`);
    };
    const kept = [...ggufRanges].filter(([name]) => state.graphs.some((g: never) => keptTensors(g).test(name)));
    expect(kept.length).toBeGreaterThan(3);
    const asked = (list: typeof first) => new Set(list.filter((r) => r.host === 'cdn' && r.path === ggufBlob).map((r) => Number(/bytes=(\d+)-/.exec(r.range!)![1])));
    for (const [name, [begin]] of kept) {
      expect(asked(first).has(begin), `${name} in the first run`).toBe(true);
      expect(asked(second).has(begin), `${name} again`).toBe(false);
    }
    console.log(`resume: ${state.graphs.length} graphs kept (${kept.length} tensors not downloaded again); ranges asked: first run ${asked(first).size}, second ${asked(second).size}`);
  }, 60_000);
});

describe('hf: references', () => {
  it('parse owner/name, @revision and /path, and refuse malformed ones naming the field', () => {
    expect(parseHubReference('hf:black-forest-labs/FLUX.1-schnell')).toEqual({ repo: 'black-forest-labs/FLUX.1-schnell', revision: 'main', path: '' });
    expect(parseHubReference('hf:city96/FLUX.1-schnell-gguf@abc123/flux1-schnell-Q4_0.gguf')).toEqual({ repo: 'city96/FLUX.1-schnell-gguf', revision: 'abc123', path: 'flux1-schnell-Q4_0.gguf' });
    expect(parseHubReference('hf:o/n/sub/dir/file.gguf').path).toBe('sub/dir/file.gguf');
    for (const bad of ['hf:', 'hf:owner', 'hf:/name', 'hf:o/n/../x', 'hf:o/n@', 'black-forest-labs/FLUX.1-schnell']) {
      const error = (() => {
        try {
          parseHubReference(bad, '--transformer');
        } catch (e) {
          return e;
        }
      })();
      expect(error, bad).toBeInstanceOf(InvalidParameterError);
      expect((error as InvalidParameterError).field).toBe('--transformer');
    }
  });
});
