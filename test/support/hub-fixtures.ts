/**
 * Tiny checkpoints on a fake Hub for the in-page import tests (and the conversion-plan
 * test): the demo checkpoint in the diffusers layout with text encoders and tokenizers
 * (so a prompt works), a GGUF transformer in BFL names with Q4_0 and Q8_0 blocks, and a
 * GGUF T5 in llama.cpp names in Q8_0 — the shapes of the published repositories
 * (`black-forest-labs/FLUX.1-schnell`, `city96/FLUX.1-schnell-gguf`,
 * `city96/t5-v1_1-xxl-encoder-gguf`) at a tiny width.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDemoCheckpoint } from '../../tools/demo/demo-model.ts';
import { listFiles } from './checkpoints.ts';
import type { FakeHubRequest, FakeRepo } from './fake-hub.ts';
import { writeGguf, type GgufWriteType } from './gguf-writer.ts';
import { readNamed, toBflTransformer, toLlamaT5 } from './source-layouts.ts';

/** Repository ids and file names the fixtures publish. */
export const TINY = {
  repo: 'test-org/tiny-flux-demo',
  ggufRepo: 'test-org/tiny-flux-gguf',
  gguf: 'flux1-tiny-Q4_0.gguf',
  t5Repo: 'test-org/tiny-t5-gguf',
  t5Gguf: 't5-tiny-Q8_0.gguf',
  /** Refusals: a gated copy of `repo`, a GGUF of another architecture, a GGUF with a type the converter cannot read. */
  gatedRepo: 'test-org/tiny-flux-gated',
  badRepo: 'test-org/tiny-bad-gguf',
  llamaGguf: 'llama-tiny.gguf',
  iqGguf: 'flux1-tiny-IQ4_XS.gguf',
  /** The tensor stored as IQ4_XS in `iqGguf` (BFL name). */
  iqTensor: 'double_blocks.0.img_mlp.0.weight',
} as const;

/** The fixtures' repositories, ready for `startFakeHub`, and the local checkpoint folder. */
export interface TinyHubRepos {
  repos: Record<string, FakeRepo>;
  /** The demo checkpoint folder (diffusers layout). */
  checkpointDir: string;
  /** Where each tensor file's tensor data starts (after its header), by `repo/path`: a range from there is tensor data. */
  dataStart: Map<string, number>;
}

/**
 * Writes the fixtures under `dir` and returns them as fake Hub repositories.
 * @param license the licence each repository declares (the Hub's `cardData.license`)
 */
export async function tinyHubRepos(dir: string, license = 'apache-2.0'): Promise<TinyHubRepos> {
  const checkpointDir = join(dir, 'checkpoint');
  writeDemoCheckpoint(checkpointDir);
  const files = new Map<string, Uint8Array>();
  for (const path of listFiles(checkpointDir)) files.set(path, new Uint8Array(readFileSync(join(checkpointDir, path))));
  files.set('model_index.json', new TextEncoder().encode('{"_class_name": "FluxPipeline"}'));

  const dataStart = new Map<string, number>();
  for (const [path, bytes] of files) {
    if (path.endsWith('.safetensors')) dataStart.set(`${TINY.repo}/${path}`, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)));
  }
  let turn = 0;
  const bfl = toBflTransformer(await readNamed(join(checkpointDir, 'transformer')), 2, 2);
  const ggufPath = join(dir, TINY.gguf);
  const flux = writeGguf(ggufPath, { 'general.architecture': { type: 'string', value: 'flux' } }, [...bfl].map(([name, t]) => ({
    name,
    shape: t.shape,
    values: t.values,
    type: (t.shape.length === 2 && t.shape[1] % 32 === 0 ? (turn++ % 2 ? 'Q8_0' : 'Q4_0') : 'F32') as GgufWriteType,
  })));
  const t5 = toLlamaT5(await readNamed(join(checkpointDir, 'text_encoder_2'), 'model'));
  const t5Path = join(dir, TINY.t5Gguf);
  const t5File = writeGguf(t5Path, { 'general.architecture': { type: 'string', value: 't5encoder' } }, [...t5].map(([name, t]) => ({
    name,
    shape: t.shape,
    values: t.values,
    type: (t.shape.length === 2 && t.shape[1] % 32 === 0 && !name.includes('attn_rel_b') ? 'Q8_0' : 'F32') as GgufWriteType,
  })));
  const llamaPath = join(dir, TINY.llamaGguf);
  writeGguf(llamaPath, { 'general.architecture': { type: 'string', value: 'llama' } }, [...bfl].map(([name, t]) => ({ name, shape: t.shape, values: t.values, type: 'F32' as const })));
  // IQ4_XS (ggml type 23): 136 bytes per 256 values.
  const iqPath = join(dir, TINY.iqGguf);
  writeGguf(iqPath, { 'general.architecture': { type: 'string', value: 'flux' } }, [...bfl].map(([name, t]) => ({
    name,
    shape: t.shape,
    values: t.values,
    type: 'F32' as const,
    ...(name === TINY.iqTensor ? { raw: { typeId: 23, bytes: new Uint8Array((t.values.length / 256) * 136) } } : {}),
  })));
  dataStart.set(`${TINY.ggufRepo}/${TINY.gguf}`, Math.min(...[...flux.ranges.values()].map(([begin]) => begin)));
  dataStart.set(`${TINY.t5Repo}/${TINY.t5Gguf}`, Math.min(...[...t5File.ranges.values()].map(([begin]) => begin)));
  return {
    checkpointDir,
    dataStart,
    repos: {
      [TINY.repo]: { files, license },
      [TINY.ggufRepo]: { files: new Map([[TINY.gguf, new Uint8Array(readFileSync(ggufPath))], ['README.md', new TextEncoder().encode('# tiny GGUF')]]), license },
      [TINY.t5Repo]: { files: new Map([[TINY.t5Gguf, new Uint8Array(readFileSync(t5Path))]]), license },
      [TINY.gatedRepo]: { files, license: 'other', gated: true },
      [TINY.badRepo]: { files: new Map([[TINY.llamaGguf, new Uint8Array(readFileSync(llamaPath))], [TINY.iqGguf, new Uint8Array(readFileSync(iqPath))]]), license },
    },
  };
}

/** Reads a fake Hub's request log in terms of repository files. */
export interface RequestReader {
  /** The `repo/path` a request reads (a resolve path, or a file-host blob by its sha256), or its API path. */
  fileOf(request: FakeHubRequest): string;
  /** Requests for tensor data: a range starting past the header of a tensor file (of `files`, when given). */
  tensorRequests(requests: FakeHubRequest[], files?: string[]): FakeHubRequest[];
  /** Body bytes sent per file (API paths included under their path). */
  bytesByFile(requests: FakeHubRequest[]): Map<string, number>;
}

/** A `RequestReader` for the fixtures' repositories. */
export function requestReader(fixtures: TinyHubRepos): RequestReader {
  const blobs = new Map<string, string>();
  // The gated copy shares its blobs with the public repository: name them after the first.
  for (const [repo, { files }] of Object.entries(fixtures.repos)) {
    for (const [path, body] of files) {
      const sha = createHash('sha256').update(body).digest('hex');
      if (!blobs.has(sha)) blobs.set(sha, `${repo}/${path}`);
    }
  }
  const fileOf = (request: FakeHubRequest) => {
    const resolved = /^\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.+)$/.exec(request.path);
    if (resolved) return `${resolved[1]}/${resolved[2]}`;
    const blob = /^\/blobs\/([0-9a-f]{64})$/.exec(request.path);
    if (blob) return blobs.get(blob[1]) ?? `unknown blob ${blob[1]}`;
    return request.path;
  };
  const start = (r: FakeHubRequest) => Number(/^bytes=(\d+)-/.exec(r.range ?? '')?.[1] ?? 0);
  return {
    fileOf,
    tensorRequests: (requests, files) =>
      requests.filter((r) => {
        const file = fileOf(r);
        return fixtures.dataStart.has(file) && (!files || files.includes(file)) && start(r) >= fixtures.dataStart.get(file)!;
      }),
    bytesByFile(requests) {
      const out = new Map<string, number>();
      for (const r of requests) out.set(fileOf(r), (out.get(fileOf(r)) ?? 0) + r.sent);
      return out;
    },
  };
}
