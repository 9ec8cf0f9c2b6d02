/**
 * SHA-256 of each fixed-size chunk of a package file, as the manifest records them
 * (`PackageFile.chunkSize` + `chunkSha256`): the weight store checks every chunk as it
 * arrives, so a damaged chunk costs one chunk, not the file, and nothing is re-hashed
 * when a session starts. One function for every writer of packages (the converter in
 * Node, in the page later); browser-safe (no Node imports).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { createSHA256 } from 'hash-wasm';
import { DEFAULTS } from '../defaults.ts';

/** An incremental SHA-256 (node:crypto's `createHash('sha256')` and @noble/hashes' both fit). */
export interface Sha256Hasher {
  update(bytes: Uint8Array): unknown;
  /** The 32-byte digest; called once. */
  digest(): Uint8Array;
}

/** The per-chunk hashes of one file, as stored in the manifest. */
export interface ChunkHashes {
  /** Bytes per chunk; every chunk but the last has exactly this many. */
  chunkSize: number;
  /** Lower-case hex SHA-256 of each chunk, in file order: ceil(size / chunkSize) entries. */
  chunkSha256: string[];
}

/**
 * Hashes a stream of bytes chunk by chunk: `update()` with the file's bytes in order (any
 * piece sizes), then `finish()` once.
 */
export class ChunkSha256 {
  private readonly hashes: string[] = [];
  private current: Sha256Hasher;
  private filled = 0;

  /**
   * @param chunkSize bytes per chunk (default {@link DEFAULTS}.chunkHashBytes, 8 MiB)
   * @param newHash creates one SHA-256 (default @noble/hashes; the converter passes node:crypto's, which is faster)
   */
  constructor(
    readonly chunkSize: number = DEFAULTS.chunkHashBytes,
    private readonly newHash: () => Sha256Hasher = () => sha256.create(),
  ) {
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer (got ${chunkSize})`);
    this.current = newHash();
  }

  /** Adds the next bytes of the file. */
  update(bytes: Uint8Array): void {
    while (bytes.length > 0) {
      const piece = bytes.subarray(0, this.chunkSize - this.filled);
      this.current.update(piece);
      this.filled += piece.length;
      bytes = bytes.subarray(piece.length);
      if (this.filled === this.chunkSize) this.closeChunk();
    }
  }

  /** The hashes of every chunk (the last one may be short; none for an empty file). */
  finish(): ChunkHashes {
    if (this.filled > 0) this.closeChunk();
    return { chunkSize: this.chunkSize, chunkSha256: [...this.hashes] };
  }

  private closeChunk(): void {
    this.hashes.push(bytesToHex(this.current.digest()));
    this.current = this.newHash();
    this.filled = 0;
  }
}

/**
 * A {@link ChunkSha256} on hash-wasm's WebAssembly SHA-256 (one instance, reset per chunk;
 * several times faster than pure JS), or on @noble/hashes where WebAssembly is refused.
 * @param chunkSize bytes per chunk (default 8 MiB)
 */
export async function createChunkSha256(chunkSize: number = DEFAULTS.chunkHashBytes): Promise<ChunkSha256> {
  try {
    const wasm = await createSHA256();
    return new ChunkSha256(chunkSize, () => {
      wasm.init();
      return { update: (bytes) => wasm.update(bytes), digest: () => wasm.digest('binary') };
    });
  } catch {
    return new ChunkSha256(chunkSize);
  }
}

/** The per-chunk hashes of bytes held in memory (a small file). */
export function chunkHashesOf(bytes: Uint8Array, chunkSize: number = DEFAULTS.chunkHashBytes, newHash?: () => Sha256Hasher): ChunkHashes {
  const hasher = new ChunkSha256(chunkSize, newHash);
  hasher.update(bytes);
  return hasher.finish();
}
