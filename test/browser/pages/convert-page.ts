/**
 * Test page of the converter's core in a browser: `window.convertTest.run` converts a
 * Hub repository (and optional overrides) from the fake Hub into an in-memory sink with
 * the same code the CLI uses, and returns the manifest with the sha256 of every stored
 * file, computed here from the bytes the sink received. Errors come back as `{ name, message }`.
 */
import { convertToPackage } from '../../../src/convert/convert.ts';
import { openHubRepository, openHubSourceFile } from '../../../src/convert/hub-files.ts';
import type { PackageSink } from '../../../src/convert/package-sink.ts';
import type { Manifest, WeightPrecision } from '../../../src/package/manifest.ts';

interface RunOptions {
  hubUrl: string;
  checkpoint: string;
  transformer?: string;
  weights: WeightPrecision;
  modelId: string;
}

/** A sink that keeps every file in memory (the weight store's place in the real import). */
function memorySink(files: Map<string, Uint8Array>): PackageSink {
  let state: string | null = null;
  return {
    async create(path) {
      const parts: Uint8Array[] = [];
      return {
        async write(bytes) {
          parts.push(bytes.slice());
        },
        async close() {
          const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let at = 0;
          for (const p of parts) {
            all.set(p, at);
            at += p.length;
          }
          files.set(path, all);
        },
      };
    },
    remove: async (path) => void files.delete(path),
    commit: async (manifest) => void files.set('manifest.json', manifest),
    abort: async () => undefined,
    loadState: async () => state,
    saveState: async (s) => void (state = s),
    clear: async () => files.clear(),
  };
}

const hex = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

async function run(options: RunOptions): Promise<{ manifest: Manifest; sha256: Record<string, string>; manifestText: string } | { name: string; message: string }> {
  try {
    const hub = { hubUrl: options.hubUrl, retryDelayMs: 1 };
    const ref = /^hf:([^@/]+\/[^@/]+)/.exec(options.checkpoint)![1];
    const files = new Map<string, Uint8Array>();
    const manifest = await convertToPackage({
      checkpoint: await openHubRepository(ref, 'main', hub),
      transformer: options.transformer ? await openHubSourceFile(options.transformer, 'transformer', hub) : undefined,
      openSink: async () => memorySink(files),
      weights: options.weights,
      modelId: options.modelId,
    });
    const sha256: Record<string, string> = {};
    for (const [path, bytes] of files) sha256[path] = hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
    return { manifest, sha256, manifestText: new TextDecoder().decode(files.get('manifest.json')) };
  } catch (error) {
    return { name: (error as Error).name, message: (error as Error).message };
  }
}

declare global {
  interface Window {
    convertTest: { run: typeof run };
  }
}

window.convertTest = { run };
