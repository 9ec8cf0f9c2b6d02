// Test page for test/browser/hub-import.test.ts: the built library's importModel(),
// planModelImport() and createGenerator() from a fake Hub, plus a raw IndexedDB reader
// (independent of the library) that hashes what the weight store holds for a package.
const flux = await import('/lib/index.js');

function errorInfo(error) {
  const fields = {};
  for (const [k, v] of Object.entries(error ?? {})) if (['string', 'number', 'boolean'].includes(typeof v) || Array.isArray(v)) fields[k] = v;
  return { name: error?.name, message: error?.message, className: error?.constructor?.name, isFluxError: error instanceof flux.FluxError, fields };
}

const imports = new Map();
const generators = new Map();
const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

/** Runs a request against the weight store's IndexedDB directly. */
async function idb(run) {
  const db = await new Promise((done, fail) => {
    const open = indexedDB.open('flux-webgpu-weights');
    open.onsuccess = () => done(open.result);
    open.onerror = () => fail(open.error);
  });
  try {
    return await new Promise((done, fail) => {
      const tx = db.transaction('weights', 'readonly');
      const result = run(tx.objectStore('weights'));
      tx.oncomplete = () => done(result.result);
      tx.onerror = () => fail(tx.error);
    });
  } finally {
    db.close();
  }
}

/** A worker that runs the library's import worker with navigator.storage.estimate() reporting `quota`/`usage`. */
function workerWithEstimate(workerFile, quota, usage) {
  const url = new URL(`/lib/${workerFile}`, location.href).href;
  // A static import: the worker module (Comlink's listener) is in place before any message is dispatched.
  const source = `import ${JSON.stringify(url)};\nnavigator.storage.estimate = async () => ({ quota: ${quota}, usage: ${usage} });`;
  return new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })), { type: 'module' });
}

window.hubTest = {
  exports: Object.keys(flux),
  packageUrl: (source) => flux.importedPackageUrl(source),
  /** Starts an import; `await` it with `finish(key)`. */
  start(key, source, { estimate } = {}) {
    const events = [];
    const controller = new AbortController();
    const worker = estimate ? workerWithEstimate(estimate.workerFile, estimate.quota, estimate.usage) : undefined;
    const started = performance.now();
    const promise = flux.importModel(source, { onProgress: (e) => events.push(e), signal: controller.signal, worker }).then(
      (value) => ({ ok: true, value, ms: performance.now() - started }),
      (error) => ({ ok: false, error: errorInfo(error), ms: performance.now() - started }),
    ).finally(() => worker?.terminate());
    imports.set(key, { promise, events, controller, settled: false });
    promise.then(() => (imports.get(key).settled = true));
  },
  async finish(key) {
    const entry = imports.get(key);
    const result = await entry.promise;
    return { ...result, events: entry.events };
  },
  settled: (key) => imports.get(key).settled,
  events: (key) => imports.get(key).events.slice(),
  cancel: (key) => imports.get(key).controller.abort(),
  async plan(source) {
    try {
      return { ok: true, value: await flux.planModelImport(source) };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  createGenerator(key, options) {
    generators.set(key, flux.createGenerator(options));
  },
  async generate(key, params) {
    const events = [];
    try {
      const result = await generators.get(key).generate({ ...params, onProgress: (e) => events.push({ ...e, preview: undefined }) });
      const bytes = new Uint8Array(await result.images[0].arrayBuffer());
      return { ok: true, seed: result.seed, width: result.width, height: result.height, backend: result.backend, imageBytes: bytes.length, pngSignature: [...bytes.slice(0, 4)], events };
    } catch (error) {
      return { ok: false, error: errorInfo(error), events };
    }
  },
  async call(key, method, ...args) {
    try {
      return { ok: true, value: await generators.get(key)[method](...args) };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  /** Every file the weight store holds for `packageUrl`, with the sha256 of its stored bytes (read straight from IndexedDB). */
  async storedFiles(packageUrl) {
    const records = await idb((s) => s.getAll(IDBKeyRange.bound(['file', packageUrl], ['file', packageUrl, []])));
    const out = {};
    for (const record of records) {
      const chunks = await idb((s) => s.getAll(IDBKeyRange.bound(['chunk', packageUrl, record.path], ['chunk', packageUrl, record.path, []])));
      const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
      out[record.path] = { size: bytes.length, recordSize: record.size, complete: record.complete, sha256: hex(await crypto.subtle.digest('SHA-256', bytes)), text: record.path === 'manifest.json' ? new TextDecoder().decode(bytes) : undefined };
    }
    return out;
  },
  packageRecord: (packageUrl) => idb((s) => s.get(['package', packageUrl])),
  /** Starts recording the longest main-thread gap between 0 ms timers (until `lagStop`). */
  lagStart() {
    const lag = { worst: 0, running: true };
    window.hubTestLag = lag;
    (async () => {
      let last = performance.now();
      while (lag.running) {
        await new Promise((r) => setTimeout(r, 0));
        const now = performance.now();
        lag.worst = Math.max(lag.worst, now - last);
        last = now;
      }
    })();
  },
  /** Stops recording; the longest gap in ms. */
  lagStop() {
    window.hubTestLag.running = false;
    return window.hubTestLag.worst;
  },
  /** The longest main-thread gap (ms) between 0 ms timers over `ms` milliseconds: the page stays responsive. */
  async timerLag(ms) {
    let worst = 0;
    const end = performance.now() + ms;
    let last = performance.now();
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 0));
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }
    return worst;
  },
};
window.hubTestReady = true;
