// Test page for test/browser/dev-golden.test.ts. Two ways into the built library:
// - `generate(model, params)`: the public API (createGenerator → worker → WebGPU);
// - `engineGenerate(workerUrl, model, request)`: the library's own worker file, driven
//   through Comlink as the library drives it, asking for the intermediate tensors
//   (transformer_out_t1, final_packed_latents), which the public API does not return.
// Both return plain, serializable values to Playwright.
import * as Comlink from '/comlink/comlink.mjs';

const flux = await import('/lib/index.js');

function errorInfo(error) {
  const fields = {};
  for (const [k, v] of Object.entries(error ?? {})) if (['string', 'number', 'boolean'].includes(typeof v)) fields[k] = v;
  return { name: error?.name, message: error?.message, className: error?.constructor?.name, isInvalidParameter: error instanceof flux.InvalidParameterError, fields };
}

function embeddings(params) {
  if (!params.promptEmbeddings) return params;
  return { ...params, promptEmbeddings: { promptEmbeds: Float32Array.from(params.promptEmbeddings.promptEmbeds), pooledPromptEmbeds: Float32Array.from(params.promptEmbeddings.pooledPromptEmbeds) } };
}

const generators = new Map();
let engineWorker;
let engine;
let calls = 0;

window.devTest = {
  /** With `workerUrl`: the generator runs on the worker `engineGenerate` uses (warm), through the `worker` option. */
  async generate(model, params, workerUrl) {
    if (workerUrl) engineWorker ??= new Worker(workerUrl, { type: 'module' });
    if (!generators.has(model)) generators.set(model, flux.createGenerator({ model, allowAnySize: true, ...(workerUrl ? { worker: engineWorker } : {}) }));
    try {
      const result = await generators.get(model).generate(embeddings(params));
      const images = await Promise.all(result.images.map(async (b) => ({ type: b.type, bytes: Array.from(new Uint8Array(await b.arrayBuffer())) })));
      return { ok: true, result: { ...result, images } };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async engineGenerate(workerUrl, model, request) {
    // One worker for every call (as the library keeps one); disposed by `disposeEngine`.
    engineWorker ??= new Worker(workerUrl, { type: 'module' });
    engine ??= Comlink.wrap(engineWorker);
    try {
      const result = await engine.generate(`golden-${++calls}`, { ...embeddings(request), model: new URL(model, location.href).href, allowAnySize: true, keepIntermediates: true });
      const intermediates = Object.fromEntries(Object.entries(result.intermediates).map(([k, v]) => [k, Array.from(v)]));
      const image = { type: result.images[0].type, bytes: Array.from(new Uint8Array(await result.images[0].arrayBuffer())) };
      return { ok: true, steps: result.steps, guidance: result.guidance, intermediates, image };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async disposeEngine() {
    await engine?.dispose().catch(() => undefined);
    engineWorker?.terminate();
  },
};
window.devTestReady = true;
