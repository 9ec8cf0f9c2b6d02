// Test page for test/browser/worker-faults.test.ts: the built library from /lib/index.js,
// with generator workers started by the page itself under the test-hook name (so that the
// test can make them crash in each way), and the randomized bad-input run.
import { badCalls, runBadCall } from './bad-inputs.js';

const flux = await import('/lib/index.js');
const params = new URLSearchParams(location.search);
const workerUrl = params.get('worker');

const generators = new Map();
const workers = new Map();

function errorInfo(error) {
  const fields = {};
  for (const [k, v] of Object.entries(error ?? {})) if (['string', 'number', 'boolean'].includes(typeof v) || Array.isArray(v)) fields[k] = v;
  return {
    name: error?.name,
    message: error?.message,
    instanceOf: Object.fromEntries(['FluxError', 'WorkerCrashedError', 'DeviceLostError', 'AbortedError'].map((c) => [c, error instanceof flux[c]])),
    fields,
  };
}

const startHooked = (key) => () => {
  const worker = new Worker(workerUrl, { type: 'module', name: 'flux-webgpu-test-hooks' });
  workers.get(key).push(worker);
  return worker;
};

/** Makes the key's newest worker die (or its device get lost) in one of the ways the hooks offer. */
function crash(key, how) {
  const worker = workers.get(key).at(-1);
  if (how === 'terminate') Worker.prototype.terminate.call(worker);
  else worker.postMessage({ 'flux-webgpu-test-hook': how });
}

window.faultTest = {
  create(key, options) {
    workers.set(key, []);
    generators.set(key, flux.createGenerator({ ...options, worker: startHooked(key) }));
  },
  workerCount: (key) => workers.get(key).length,
  crash,
  /** generate(); with `crashOn`, crashes the worker (`how`) at the first progress event of that stage. */
  async generate(key, params, { crashOn, how, guardMs } = {}) {
    // `embeddings: {tokens, jointDim, pooledDim}` stands for prompt embeddings of that shape (no text encoding).
    const { embeddings, ...request } = params;
    if (embeddings) {
      const wave = (n, k) => Float32Array.from({ length: n }, (_, i) => 0.05 * Math.sin(i * k));
      request.promptEmbeddings = { promptEmbeds: wave(embeddings.tokens * embeddings.jointDim, 0.37), pooledPromptEmbeds: wave(embeddings.pooledDim, 0.11) };
    }
    const stages = [];
    let crashedAt;
    let hung;
    const hang = new Promise((resolve) => (hung = resolve));
    const started = performance.now();
    try {
      const running = generators.get(key).generate({
        ...request,
        onProgress: (event) => {
          stages.push(event.stage);
          if (crashOn && event.stage === crashOn && crashedAt === undefined) {
            crashedAt = performance.now();
            crash(key, how);
            setTimeout(() => hung({ hung: true }), guardMs);
          }
        },
      });
      const result = await Promise.race([running, hang]);
      if (result.hung) return { ok: false, hung: true, stages, crashedAt };
      return { ok: true, width: result.width, seed: result.seed, images: result.images.length, stages, ms: performance.now() - started };
    } catch (error) {
      const rejectedAt = performance.now();
      return { ok: false, error: errorInfo(error), stages, crashedAt, detectMs: crashedAt === undefined ? undefined : rejectedAt - crashedAt };
    }
  },
  async call(key, method, ...args) {
    try {
      return { ok: true, value: await generators.get(key)[method](...args) };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  /** Overwrites one stored chunk of a package file in the weight store (IndexedDB) with noise. */
  async corruptChunk(packageUrl, path, index) {
    const db = await new Promise((resolve, reject) => {
      const open = indexedDB.open('flux-webgpu-weights');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const store = db.transaction('weights', 'readwrite').objectStore('weights');
    const key = ['chunk', packageUrl, path, index];
    const chunk = await new Promise((resolve) => (store.get(key).onsuccess = (e) => resolve(e.target.result)));
    if (!chunk) throw new Error(`no chunk ${index} of ${path}`);
    const noise = new Uint8Array(chunk.size).map((_, i) => (i * 131 + 7) & 255);
    await new Promise((resolve, reject) => {
      const tx = db.transaction('weights', 'readwrite');
      tx.objectStore('weights').put(new Blob([noise]), key);
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
    db.close();
    return chunk.size;
  },
  /** Randomized bad calls against the library in this page (the network is stubbed: reaching it counts as accepted). */
  async runBad(seed, count) {
    let reached = 0;
    const realFetch = window.fetch;
    window.fetch = async () => {
      reached++;
      throw new Error('network reached');
    };
    try {
      const engine = { id: 'double', label: 'Test double', generate: async () => { reached++; throw new Error('engine reached'); } };
      const context = {
        lib: flux,
        generator: flux.createGenerator({ privacy: 'remote-only', providers: [engine] }),
        provider: flux.createProvider({ kind: 'bfl', apiKey: 'k-123', baseUrl: 'https://api.example.invalid' }),
        reached: () => reached,
      };
      const outcomes = {};
      const failures = [];
      for (const call of badCalls(seed, count)) {
        const result = await runBadCall(call, context);
        outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
        if (result.outcome !== 'typed') failures.push(`${result.outcome}: ${result.label}${result.error ? ` → ${result.error}` : ''}`);
      }
      return { outcomes, failures, reached };
    } finally {
      window.fetch = realFetch;
    }
  },
};
window.faultTestReady = true;
