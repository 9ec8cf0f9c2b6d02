/**
 * The manifest's per-chunk sha256 (`chunkSize` + `chunkSha256`): the shared hasher in
 * src/package/, the converter's data writer that feeds it, and the manifest check.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/defaults.ts';
import { ChunkSha256, chunkHashesOf, createChunkSha256 } from '../src/package/chunk-hashes.ts';
import { chunkHashProblem } from '../src/package/manifest.ts';
import { ExternalDataWriter } from '../src/convert/onnx-builder.ts';
import { openFileSink } from '../tools/convert/folder-sink.ts';

const hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** The expected hashes, computed directly from slices. */
const slices = (bytes: Uint8Array, size: number) => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => hex(bytes.subarray(i * size, (i + 1) * size)));

const tmp = mkdtempSync(join(tmpdir(), 'chunk-hashes-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('ChunkSha256', () => {
  it('hashes each chunk whatever the pieces it is fed in, the last chunk short', () => {
    const bytes = randomBytes(10_000);
    const hasher = new ChunkSha256(1024);
    for (let at = 0, piece = 1; at < bytes.length; at += piece, piece = (piece * 7) % 3001 + 1) hasher.update(bytes.subarray(at, at + piece));
    expect(hasher.finish()).toEqual({ chunkSize: 1024, chunkSha256: slices(bytes, 1024) });
    expect(chunkHashesOf(bytes, 1024, () => createHash('sha256'))).toEqual({ chunkSize: 1024, chunkSha256: slices(bytes, 1024) });
  });

  it('the WebAssembly variant gives the same hashes', async () => {
    const bytes = randomBytes(5_000);
    const hasher = await createChunkSha256(1024);
    hasher.update(bytes.subarray(0, 1500));
    hasher.update(bytes.subarray(1500));
    expect(hasher.finish().chunkSha256).toEqual(slices(bytes, 1024));
  });

  it('an exact multiple of the chunk size has no empty last chunk; an empty file has no chunk', () => {
    expect(chunkHashesOf(new Uint8Array(2048), 1024).chunkSha256).toHaveLength(2);
    expect(chunkHashesOf(new Uint8Array(0), 1024).chunkSha256).toEqual([]);
  });
});

describe("the converter's .onnx_data writer", () => {
  it('records the sha256 of every 8 MiB chunk of what it wrote, alignment padding included', async () => {
    const path = join(tmp, 'w.onnx_data');
    const writer = await ExternalDataWriter.create('w.onnx_data', await openFileSink(path));
    writer.append(randomBytes(5 * 2 ** 20 + 3));
    writer.append(randomBytes(9 * 2 ** 20 + 17)); // padded to 64 bytes before it
    const written = await writer.finish();
    const onDisk = readFileSync(path);
    expect(written.size).toBe(onDisk.length);
    expect(written.sha256).toBe(hex(onDisk));
    expect(written.chunkSize).toBe(DEFAULTS.chunkHashBytes);
    expect(written.chunkSha256).toEqual(slices(onDisk, DEFAULTS.chunkHashBytes));
    expect(written.chunkSha256).toHaveLength(2);
  });
});

describe('chunkHashProblem (manifest check)', () => {
  const file = { path: 'a.onnx_data', size: 3000, sha256: 'a'.repeat(64) };
  it('accepts a file without chunk hashes (older packages) and one with the right count', () => {
    expect(chunkHashProblem(file)).toBeUndefined();
    expect(chunkHashProblem({ ...file, size: 200_000, chunkSize: 65_536, chunkSha256: Array(4).fill('b'.repeat(64)) })).toBeUndefined();
  });
  it('names what is wrong: the count, a hash, the chunk size', () => {
    expect(chunkHashProblem({ ...file, size: 200_000, chunkSize: 65_536, chunkSha256: Array(3).fill('b'.repeat(64)) })).toMatch(/must list 4 hashes/);
    expect(chunkHashProblem({ ...file, chunkSize: 65_536, chunkSha256: ['xyz'] })).toMatch(/\[0\] must be 64 hex/);
    expect(chunkHashProblem({ ...file, chunkSize: 100, chunkSha256: ['b'.repeat(64)] })).toMatch(/"chunkSize" must be an integer/);
    expect(chunkHashProblem({ ...file, chunkSha256: ['b'.repeat(64)] })).toMatch(/"chunkSize"/);
  });
});
