/**
 * Where the library looks for its worker and onnxruntime's wasm (`workerUrl`, `wasmPaths`,
 * the widget's `worker-url` / `wasm-paths`): the URLs made of them, and the typed errors
 * naming the field for anything that is not a URL. (Starting workers from them is covered
 * in a browser by test/browser/consumer-apps.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { checkWorkerLocation, resolveWasmUrl } from '../src/engine/worker-url.ts';
import { createGenerator } from '../src/generator.ts';
import { readGeneratorConfig } from '../src/widget/config.ts';
import { thrownInvalid } from './support/thrown.ts';

const WASM = 'ort-wasm-simd-threaded.asyncify.wasm';


describe('wasmPaths', () => {
  it('takes a folder (with or without the final slash) or the .wasm file itself', () => {
    expect(resolveWasmUrl('https://cdn.example/flux/')).toBe(`https://cdn.example/flux/${WASM}`);
    expect(resolveWasmUrl('https://cdn.example/flux')).toBe(`https://cdn.example/flux/${WASM}`);
    expect(resolveWasmUrl(new URL('https://cdn.example/a/b/'))).toBe(`https://cdn.example/a/b/${WASM}`);
    expect(resolveWasmUrl('https://cdn.example/x/custom-name.wasm?v=3')).toBe('https://cdn.example/x/custom-name.wasm?v=3');
  });

  it('refuses what is not an http(s) URL, naming the field', () => {
    for (const bad of ['javascript:alert(1)', 'not a url', 42, null]) {
      const error = thrownInvalid(() => resolveWasmUrl(bad as string));
      expect(error.field).toBe('wasmPaths');
      expect(error.message).toMatch(/folder holding ort-wasm-simd-threaded\.asyncify\.wasm/);
    }
  });
});

describe('workerUrl', () => {
  it('refuses what is not a URL, naming the field, when the generator is created', () => {
    expect(() => checkWorkerLocation({ workerUrl: 'https://cdn.example/flux/generator.worker.js', wasmPaths: 'https://cdn.example/flux/' })).not.toThrow();
    expect(thrownInvalid(() => checkWorkerLocation({ workerUrl: 'ftp://x/generator.worker.js' })).field).toBe('workerUrl');
    // createGenerator checks before anything starts (no worker exists under Node).
    expect(thrownInvalid(() => createGenerator({ model: 'https://example.org/m/', workerUrl: 'javascript:void 0' })).field).toBe('workerUrl');
    expect(thrownInvalid(() => createGenerator({ model: 'https://example.org/m/', wasmPaths: 'data' })).field).toBe('wasmPaths');
  });
});

describe('<flux-generator> worker-url and wasm-paths attributes', () => {
  const attributes = (values: Record<string, string>) => (name: string) => values[name] ?? null;

  it('are read into the generator configuration', () => {
    const config = readGeneratorConfig(attributes({ model: 'https://example.org/m/', 'worker-url': 'https://cdn.example/f/generator.worker.js', 'wasm-paths': 'https://cdn.example/f/' }));
    expect(config).toMatchObject({ workerUrl: 'https://cdn.example/f/generator.worker.js', wasmPaths: 'https://cdn.example/f/' });
  });

  it('are refused with the attribute named', () => {
    expect(thrownInvalid(() => readGeneratorConfig(attributes({ model: 'https://example.org/m/', 'worker-url': 'javascript:x' }))).field).toBe('worker-url');
    expect(thrownInvalid(() => readGeneratorConfig(attributes({ model: 'https://example.org/m/', 'wasm-paths': 'mailto:a@b' }))).field).toBe('wasm-paths');
  });
});
