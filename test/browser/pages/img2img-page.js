// Test page for test/browser/img2img.test.ts. Two ways into the built library:
// - `generate(model, params, imageAs)`: the public API (createGenerator → worker → WebGPU)
//   with the picture given as a Blob, a URL, an ImageData or a canvas;
// - `engineGenerate(workerUrl, model, request)`: the library's own worker file, driven
//   through Comlink as the library drives it, asking for the intermediate tensors
//   (posterior, image latents, noise, final latents), which the public API does not return.
// Both return plain, serializable values to Playwright.
import * as Comlink from '/comlink/comlink.mjs';

const flux = await import('/lib/index.js');

function errorInfo(error) {
  const fields = {};
  for (const [k, v] of Object.entries(error ?? {})) if (['string', 'number', 'boolean'].includes(typeof v)) fields[k] = v;
  return { name: error?.name, message: error?.message, className: error?.constructor?.name, isModelPackageError: error instanceof flux.ModelPackageError, isInvalidParameter: error instanceof flux.InvalidParameterError, fields };
}

function embeddings(params) {
  if (!params.promptEmbeddings) return params;
  return { ...params, promptEmbeddings: { promptEmbeds: Float32Array.from(params.promptEmbeddings.promptEmbeds), pooledPromptEmbeds: Float32Array.from(params.promptEmbeddings.pooledPromptEmbeds) } };
}

/** The picture (PNG bytes) in the form `as` names. */
async function pictureAs(pngBytes, as) {
  const blob = new Blob([Uint8Array.from(pngBytes)], { type: 'image/png' });
  if (as === 'blob') return blob;
  if (as === 'url') return URL.createObjectURL(blob);
  const bitmap = await createImageBitmap(blob);
  if (as === 'bitmap') return bitmap;
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext('2d').drawImage(bitmap, 0, 0);
  if (as === 'canvas') return canvas;
  return canvas.getContext('2d').getImageData(0, 0, bitmap.width, bitmap.height);
}

const generators = new Map();
let engineWorker;
let engine;
let calls = 0;

window.img2imgTest = {
  async generate(model, params, pngBytes, imageAs) {
    if (!generators.has(model)) generators.set(model, flux.createGenerator({ model, allowAnySize: true }));
    try {
      const image = pngBytes ? await pictureAs(pngBytes, imageAs) : undefined;
      const result = await generators.get(model).generate({ ...embeddings(params), ...(image ? { image } : {}) });
      const images = await Promise.all(result.images.map(async (b) => ({ type: b.type, bytes: Array.from(new Uint8Array(await b.arrayBuffer())) })));
      return { ok: true, result: { ...result, images } };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async engineGenerate(workerUrl, model, request) {
    engineWorker ??= new Worker(workerUrl, { type: 'module' });
    engine ??= Comlink.wrap(engineWorker);
    try {
      const picture = { ...request.image, rgb: Uint8Array.from(request.image.rgb) };
      const result = await engine.generate(`img2img-${++calls}`, { ...embeddings(request), image: picture, model: new URL(model, location.href).href, allowAnySize: true, keepIntermediates: true });
      const intermediates = Object.fromEntries(Object.entries(result.intermediates).map(([k, v]) => [k, Array.from(v)]));
      const image = { type: result.images[0].type, bytes: Array.from(new Uint8Array(await result.images[0].arrayBuffer())) };
      return { ok: true, steps: result.steps, strength: result.strength, intermediates, image };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async dispose() {
    for (const generator of generators.values()) await generator.dispose();
    generators.clear();
    await engine?.dispose().catch(() => undefined);
    engineWorker?.terminate();
  },
};
window.img2imgTestReady = true;
