// Test page for test/browser/engine.test.ts: loads the built library from /lib/index.js
// and offers helpers that return plain, serializable values to Playwright.
// ?lib=<url> imports the library from elsewhere (e.g. another origin, as from a CDN).
const flux = await import(new URLSearchParams(location.search).get('lib') ?? '/lib/index.js');

const generators = new Map();
const loadControllers = new Set();
const events = [];

function errorInfo(error) {
  const fields = {};
  for (const [k, v] of Object.entries(error ?? {})) if (['string', 'number', 'boolean'].includes(typeof v) || Array.isArray(v)) fields[k] = v;
  return {
    name: error?.name,
    message: error?.message,
    className: error?.constructor?.name,
    instanceOf: Object.fromEntries(['FluxError', 'InvalidParameterError', 'AbortedError', 'DeviceCapabilityError', 'ModelPackageError', 'DownloadError'].map((c) => [c, error instanceof flux[c]])),
    fields,
  };
}

async function blobBytes(blob) {
  return { type: blob.type, bytes: Array.from(new Uint8Array(await blob.arrayBuffer())) };
}

function toFloat32(value) {
  return value instanceof Float32Array ? value : Float32Array.from(value);
}

window.fluxTest = {
  exports: Object.keys(flux),
  create(key, options) {
    generators.set(key, flux.createGenerator(options));
    return generators.get(key).model;
  },
  events: () => events.slice(),
  clearEvents: () => void events.splice(0),
  /** generate() with an optional abort: after the first progress event of stage `abortOn`, or after `abortAfterMs`. */
  async generate(key, params, { abortOn, abortAfterMs, label } = {}) {
    const generator = generators.get(key);
    const controller = new AbortController();
    const request = { ...params };
    if (request.promptEmbeddings) {
      request.promptEmbeddings = {
        promptEmbeds: toFloat32(request.promptEmbeddings.promptEmbeds),
        pooledPromptEmbeds: toFloat32(request.promptEmbeddings.pooledPromptEmbeds),
      };
    }
    let abortedAt;
    request.signal = controller.signal;
    request.onProgress = (event) => {
      events.push({ label, t: performance.now(), ...event });
      if (abortOn && event.stage === abortOn && abortedAt === undefined) {
        abortedAt = performance.now();
        events.push({ label, t: abortedAt, stage: 'abort-requested' });
        controller.abort();
      }
    };
    if (abortAfterMs !== undefined) {
      setTimeout(() => {
        abortedAt = performance.now();
        events.push({ label, t: abortedAt, stage: 'abort-requested' });
        controller.abort();
      }, abortAfterMs);
    }
    const started = performance.now();
    try {
      const result = await generator.generate(request);
      const images = await Promise.all(result.images.map(blobBytes));
      return { ok: true, result: { ...result, images }, ms: performance.now() - started };
    } catch (error) {
      return { ok: false, error: errorInfo(error), ms: performance.now() - started, abortedAt, rejectedAt: performance.now() };
    }
  },
  createLocal(key, options) {
    generators.set(key, flux.createLocalGenerator(options));
    return generators.get(key).model;
  },
  /** decodeLatents() with plain arrays in and out. */
  async decodeLatents(key, params) {
    const started = performance.now();
    try {
      const result = await generators.get(key).decodeLatents({ ...params, latents: toFloat32(params.latents), onProgress: (event) => events.push({ label: 'decode', t: performance.now(), ...event }) });
      return { ok: true, result: { ...result, image: await blobBytes(result.image), output: result.output ? Array.from(result.output) : undefined }, ms: performance.now() - started };
    } catch (error) {
      return { ok: false, error: errorInfo(error), ms: performance.now() - started };
    }
  },
  async call(key, method, ...args) {
    try {
      return { ok: true, value: await generators.get(key)[method](...args) };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async load(key) {
    const progress = [];
    try {
      const value = await generators.get(key).load((e) => progress.push(e));
      return { ok: true, value, progress };
    } catch (error) {
      return { ok: false, error: errorInfo(error), progress };
    }
  },
  /**
   * load() in either new call form — `load({signal, onProgress})` or
   * `load(onProgress, {signal})`; `abortLoads()` aborts the signals of those running.
   */
  async loadWith(key, { form = 'options' } = {}) {
    const controller = new AbortController();
    loadControllers.add(controller);
    const progress = [];
    const onProgress = (e) => progress.push(e);
    const generator = generators.get(key);
    try {
      const value = form === 'options' ? await generator.load({ signal: controller.signal, onProgress }) : await generator.load(onProgress, { signal: controller.signal });
      return { ok: true, value, progress };
    } catch (error) {
      return { ok: false, error: errorInfo(error), progress };
    } finally {
      loadControllers.delete(controller);
    }
  },
  abortLoads() {
    for (const controller of loadControllers) controller.abort();
  },
  async dispose(key) {
    await generators.get(key)?.dispose();
    generators.delete(key);
  },
};
window.fluxTestReady = true;
