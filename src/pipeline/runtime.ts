/**
 * What the pipeline needs from a platform: sessions for the package's graphs. Node
 * (onnxruntime-node, files on disk) and the browser worker (onnxruntime-web, WebGPU,
 * weights from IndexedDB) each implement it; the pipeline code is the same.
 */
import type { Tensor } from 'onnxruntime-common';
import type { GraphEntry, Manifest } from '../package/manifest.ts';

/** The part of an onnxruntime InferenceSession the pipeline uses. */
export interface GraphSession {
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
}

/** Opens sessions for the graphs of one package. */
export interface ModelRuntime {
  readonly manifest: Manifest;
  /** A JSON file of the package (e.g. a tokenizer), by its path in the manifest. */
  readJson(path: string): Promise<unknown>;
  /** The session of `graph`, created on first use (a runtime may keep it for later calls). */
  session(graph: GraphEntry): Promise<GraphSession>;
  /**
   * Told when the current generation will not run `graph` again before the next
   * denoising step or image; a low-memory runtime releases it here. Optional.
   */
  finished?(graph: GraphEntry): Promise<void>;
}
