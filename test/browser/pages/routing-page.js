// Test page for test/browser/routing.test.ts: the built library from /lib/index.js, and
// client code written the way code against BFL's and OpenAI's APIs is written.
const flux = await import('/lib/index.js');

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function errorInfo(error) {
  return {
    name: error?.name,
    message: error?.message,
    status: error?.status,
    body: error?.body,
    missing: error?.missing,
    instanceOf: Object.fromEntries(['DeviceCapabilityError', 'ProviderCorsError', 'ProviderError', 'BflValidationError', 'OpenAIRequestError'].map((c) => [c, error instanceof flux[c]])),
  };
}

async function pngInfo(blob) {
  const bitmap = await createImageBitmap(blob);
  return { type: blob.type, width: bitmap.width, height: bitmap.height, bytes: blob.size };
}

/** Code written for BFL's API: submit, poll get_result until Ready, fetch the sample. */
async function bflClientWorkflow(bfl, prompt) {
  const { id, polling_url } = await bfl.submit('flux-dev', { prompt, width: 256, height: 256, steps: 1, seed: 7, output_format: 'png' });
  let result;
  do {
    await sleep(100);
    result = await bfl.getResult(id);
  } while (result.status === 'Pending' || result.status === 'Processing');
  if (result.status !== 'Ready') throw new Error(`BFL task ${id} ended ${result.status}`);
  const image = await (await fetch(result.result.sample)).blob();
  return { id, polling_url, status: result.status, seed: result.result.seed, prompt: result.result.prompt, image: await pngInfo(image) };
}

/** Code written for OpenAI's images API. */
async function openaiClientWorkflow(openai, prompt, size) {
  const response = await openai.images.generate({ model: 'flux-schnell', prompt, n: 1, size, response_format: 'b64_json' });
  const bytes = Uint8Array.from(atob(response.data[0].b64_json), (c) => c.charCodeAt(0));
  return { created: response.created, count: response.data.length, image: await pngInfo(new Blob([bytes], { type: 'image/png' })) };
}

const generators = new Map();
window.routingTest = {
  create(key, options) {
    generators.set(key, flux.createGenerator(options));
  },
  async route(key) {
    try {
      const { provider, ...decision } = await generators.get(key).route();
      return { ok: true, decision };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async generate(key, params) {
    try {
      const result = await generators.get(key).generate(params);
      return { ok: true, backend: result.backend, backendReason: result.backendReason, seed: result.seed, width: result.width, height: result.height, warnings: result.warnings, image: await pngInfo(result.images[0]) };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async bfl(key, prompt) {
    try {
      return { ok: true, value: await bflClientWorkflow(generators.get(key).bfl, prompt) };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async bflSubmit(key, model, body) {
    try {
      return { ok: true, value: await generators.get(key).bfl.submit(model, body) };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async bflResult(key, id) {
    return generators.get(key).bfl.getResult(id);
  },
  async openai(key, prompt, size) {
    try {
      return { ok: true, value: await openaiClientWorkflow(generators.get(key), prompt, size) };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
  async openaiRaw(key, request) {
    try {
      return { ok: true, value: await generators.get(key).images.generate(request) };
    } catch (error) {
      return { ok: false, error: errorInfo(error) };
    }
  },
};
window.routingTestReady = true;
