/**
 * Whether an error from onnxruntime or WebGPU means the GPU ran out of memory. An
 * allocation WebGPU cannot satisfy gives an invalid buffer (and a GPU error), which
 * onnxruntime reports as a failed session creation or run; its words vary by browser
 * and driver, so the engine also passes whether its counting wrapper refused an
 * allocation (the test cap) during the attempt.
 */

/** Words that onnxruntime, Dawn and browsers use for a failed GPU allocation. */
const OUT_OF_MEMORY_WORDS = /out of memory|out-of-memory|OutOfMemory|\bOOM\b|Failed to create (a )?GPU buffer|allocation failed|not enough memory|insufficient memory/i;

/**
 * @param error what the load or run threw
 * @param refusedByCap true when the counting wrapper refused an allocation (or saw an
 *   uncaptured GPUOutOfMemoryError) meanwhile
 */
export function isOutOfMemory(error: unknown, refusedByCap = false): boolean {
  if (refusedByCap) return true;
  const message = error instanceof Error ? error.message : String(error);
  return OUT_OF_MEMORY_WORDS.test(message);
}
