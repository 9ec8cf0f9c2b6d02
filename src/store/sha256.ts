/**
 * SHA-256 helpers of the weight store: one-shot digests of a chunk (WebCrypto, native and
 * fast; @noble/hashes where `crypto.subtle` is missing, i.e. outside a secure context) and
 * incremental digests of a whole file (WebCrypto has no streaming API): hash-wasm's
 * WebAssembly SHA-256 (about 2× @noble/hashes in Node, more in Chromium, where the
 * whole-file hash bounded the download speed), or @noble/hashes where WebAssembly cannot
 * be instantiated (a page whose CSP lacks 'wasm-unsafe-eval').
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { createSHA256 } from 'hash-wasm';

/** An incremental SHA-256: `update(bytes)` any number of times, then `digestHex()` once. */
export interface IncrementalSha256 {
  update(bytes: Uint8Array): unknown;
  /** Lower-case hex of the digest (64 characters); call once, after the last update. */
  digestHex(): string;
}

/** Starts an incremental SHA-256 over a stream of bytes. */
export async function createIncrementalSha256(): Promise<IncrementalSha256> {
  try {
    const hasher = await createSHA256();
    hasher.init();
    return { update: (bytes) => hasher.update(bytes), digestHex: () => hasher.digest('hex') };
  } catch {
    const hasher = sha256.create();
    return { update: (bytes) => hasher.update(bytes), digestHex: () => bytesToHex(hasher.digest()) };
  }
}

/**
 * Lower-case hex SHA-256 of `bytes` (one chunk: a few MiB at most, it is copied once by WebCrypto).
 * @param bytes the data to hash
 * @returns 64 hex characters
 */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle) return bytesToHex(new Uint8Array(await subtle.digest('SHA-256', bytes)));
  return bytesToHex(sha256(bytes));
}
