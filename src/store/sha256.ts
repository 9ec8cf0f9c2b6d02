/**
 * SHA-256 helpers of the weight store: one-shot digests of a chunk (WebCrypto, native and
 * fast; @noble/hashes where `crypto.subtle` is missing, i.e. outside a secure context) and
 * incremental digests of a whole file (@noble/hashes, as WebCrypto has no streaming API).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/** An incremental SHA-256: `update(bytes)` any number of times, then `digest()` once. */
export type IncrementalSha256 = ReturnType<typeof sha256.create>;

/** Starts an incremental SHA-256 over a stream of bytes. */
export function createIncrementalSha256(): IncrementalSha256 {
  return sha256.create();
}

/** Lower-case hex of a finished incremental digest (64 characters). */
export function finishSha256Hex(hasher: IncrementalSha256): string {
  return bytesToHex(hasher.digest());
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
