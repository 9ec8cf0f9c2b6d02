// Randomized bad input for every public entry point, shared by the Node test
// (test/bad-input.test.ts) and the browser tests (served to the page as a module).
// Each case changes ONE thing of a valid call to a value that is not allowed, so the
// answer must be a typed error naming that thing. Plain JS: it runs in both places.

/** A small seeded PRNG (mulberry32), so a failing case can be replayed from its seed. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (random, list) => list[Math.floor(random() * list.length)];

// Values that are wrong for any field of the given kind.
const NOT_A_NUMBER = ['512', '', null, {}, [], true, () => 1, Symbol('s'), 10n, new Date(0)];
const BAD_NUMBER = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, 1.5, 1e12, -0.5];
const NOT_TEXT = [42, null, {}, [], true, () => 'x', 10n];
const NOT_A_BOOLEAN = ['yes', 'true', 1, 0, null, {}, [], 'false'];
const NOT_AN_OBJECT = ['x', 42, true, null, 10n];

/** Bad values of each request field (GenerateParams). */
export const BAD_REQUEST_FIELDS = {
  prompt: [...NOT_TEXT, '', '   ', '\n\t', 'x'.repeat(10001)],
  width: [...NOT_A_NUMBER, ...BAD_NUMBER, 0, 17, 100, 1441, 1456, 4096, -512],
  height: [...NOT_A_NUMBER, ...BAD_NUMBER, 0, 31, 250, 2048, -16],
  steps: [...NOT_A_NUMBER, ...BAD_NUMBER, 0, 51, 100],
  seed: [...NOT_A_NUMBER, ...BAD_NUMBER, 2 ** 32, 2 ** 53],
  numImages: [...NOT_A_NUMBER, ...BAD_NUMBER, 0, 5, 100],
  outputFormat: [...NOT_TEXT, 'gif', 'PNG', 'jpg', ''],
  quality: [...NOT_A_NUMBER, Number.NaN, -0.1, 1.01, 100],
  preview: NOT_A_BOOLEAN,
  signal: [{}, 'abort', 42, true, { aborted: 'no' }, { aborted: false }, []],
  onProgress: ['log', 42, {}, [], true],
};

/** Bad prompt embeddings (tried without a prompt). */
export const BAD_EMBEDDINGS = [
  null,
  'embeds',
  42,
  {},
  [],
  { promptEmbeds: [1, 2], pooledPromptEmbeds: new Float32Array(2) },
  { promptEmbeds: new Float32Array(0), pooledPromptEmbeds: new Float32Array(2) },
  { promptEmbeds: new Float32Array(4), pooledPromptEmbeds: new Float64Array(2) },
  { promptEmbeds: new Float32Array([1, Number.NaN]), pooledPromptEmbeds: new Float32Array(2) },
  { promptEmbeds: new Float32Array(4) },
];

/** Keys that are not fields of a request (other APIs' names, typos, later features). */
export const UNKNOWN_REQUEST_KEYS = [['n', 2], ['size', '512x512'], ['guidance_scale', 3.5], ['prmopt', 'a fox'], ['image', 'blob:x'], ['num_inference_steps', 4], ['aspect_ratio', '1:1']];

/** Bad values of each createGenerator option. */
export const BAD_GENERATOR_OPTIONS = {
  model: [42, '', '   ', 'http://[::1', 'javascript:alert(1)', {}, [], true, null],
  privacy: ['public', 'local', '', 1, null, {}, true],
  providers: ['bfl', {}, 42, true, null, [null], [42], ['bfl'], [[]], [{}], [{ kind: 'acme' }], [{ kind: 'bfl', baseUrl: 123 }], [{ kind: 'bfl', baseUrl: 'ftp://x' }],
    [{ kind: 'bfl', baseUrl: 'https://user:pw@proxy.example' }], [{ kind: 'bfl', model: 42 }], [{ kind: 'bfl', model: '' }], [{ kind: 'bfl', strict: 'yes' }],
    [{ kind: 'bfl', maxRetries: 1.5 }], [{ kind: 'bfl', maxRetries: -1 }], [{ kind: 'bfl', timeoutMs: -1 }], [{ kind: 'bfl', timeoutMs: '10s' }], [{ kind: 'bfl', pollIntervalMs: Number.NaN }],
    [{ kind: 'openai' }], [{ kind: 'openai', baseUrl: 'https://gw.example', responseFormat: 'png' }], [{ kind: 'bfl', apiKey: 'has space' }], [{ kind: 'bfl', apiKey: 42 }],
    [{ kind: 'bfl', label: 7 }], [{ kind: 'bfl', foo: 1 }], [{ kind: 'fal', sendSeedAndSteps: true }]],
  allowAnySize: NOT_A_BOOLEAN,
  engine: ['fast', 42, true, null, [], { numThreads: -1 }, { numThreads: 1.5 }, { numThreads: '2' }, { logLevel: 'loud' }, { logSeverityLevel: 7 }, { keepSessions: 'no' },
    { forceCpuNodeNames: 'a' }, { forceCpuNodeNames: [1] }, { preferredLayout: 'NWHC' }, { fast: true }],
  worker: [{}, 'worker.js', 42, null, true, []],
};

/** Where each generator option's error should point, for a bad provider entry. */
function providerField(value) {
  if (!Array.isArray(value)) return 'providers';
  const entry = value[0];
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'providers[0]';
  if (!['bfl', 'fal', 'replicate', 'openai', 'monica', 'aimlapi'].includes(entry.kind)) return 'providers[0].kind';
  const keys = Object.keys(entry).filter((k) => k !== 'kind');
  if (entry.kind === 'openai' && keys.length === 0) return 'providers[0].baseUrl';
  return `providers[0].${keys[keys.length - 1]}`;
}

/** Where an error should point for a bad `engine` option. */
function engineField(value) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'engine';
  return `engine.${Object.keys(value)[0]}`;
}

/** Bad BFL request bodies (field → values); the facade answers 422 with loc ['body', field]. */
export const BAD_BFL_FIELDS = {
  prompt: [42, null, '', '   ', 'x'.repeat(10001), {}],
  width: [100, 1500, 500, '512', 1.5, null, -256],
  height: [128, 2048, 300, '768', Number.NaN],
  aspect_ratio: ['0:0', '100:1', '1:100', '22:9', 'wide', 16, '16:0', '-1:1', '', '1:1:1'],
  steps: [0, 60, '4', 1.5, -1],
  seed: [-1, 1.5, '7', 2 ** 32],
  output_format: ['webp', 'gif', 1, 'PNG'],
  guidance: ['high', null, {}],
  safety_tolerance: [9, 'x', -1, 2.5],
  prompt_upsampling: ['yes', 1],
  raw: [1, 'false'],
};

/** Bad OpenAI image requests (field → values); the facade answers 400 with `param` = field. */
export const BAD_OPENAI_FIELDS = {
  prompt: [42, '', '   ', null, {}],
  n: [0, 5, 1.5, '2'],
  size: ['512', '100x100', '512x513', 'axb', 512, '0x0', '4096x4096', ''],
  response_format: ['png', 1],
  output_format: ['gif', 1, 'PNG'],
  seed: [-1, '7', 1.5, 2 ** 32],
  model: [42, {}, true],
  steps: [4],
  width: [512],
};

/** Bad provider configs (createProvider). */
export const BAD_PROVIDER_CONFIGS = {
  kind: ['acme', '', 42, null, 'BFL'],
  apiKey: ['', '  ', 'has space', 42, {}, 'ключ'],
  baseUrl: [123, '', 'ftp://x.example', 'http://[bad', {}, 'https://u:p@x.example'],
  model: [42, '', {}],
  strict: ['yes', 1, null],
  timeoutMs: [-1, '10', Number.NaN, Number.POSITIVE_INFINITY],
  pollIntervalMs: [-5, 'fast'],
  maxRetries: [1.5, -1, '3'],
  retryBaseMs: [-1, {}],
  maxRetryAfterMs: ['1m'],
  id: [42, ''],
  label: [{}, ''],
  foo: [1],
};

/**
 * Generates `count` bad calls. Each is `{entry, expected, make}`: `make(context)` returns
 * the promise (or throws) of one call on the entry, `expected` the field the error must name.
 * Entries: createGenerator, generate, validate, bfl.submit, images.generate,
 * createProvider, provider.generate. `context` gives `lib` (createGenerator,
 * createProvider), `engine` (an ImageEngine test double) and `providerBase`.
 */
export function badCalls(seed, count, entries = ['createGenerator', 'generate', 'validate', 'bfl.submit', 'images.generate', 'createProvider', 'provider.generate']) {
  const random = rng(seed);
  const calls = [];
  const baseRequest = () => ({ prompt: 'a red fox in the snow', width: 512, height: 512 });
  for (let i = 0; i < count; i++) {
    const entry = entries[i % entries.length];
    const label = (what) => `#${i} ${entry} ${what}`;
    if (entry === 'createGenerator') {
      const r = random();
      if (r < 0.08) {
        const value = pick(random, [undefined, null, 'model', 42, [], true]);
        calls.push({ entry, expected: 'options', label: label(`options=${describe(value)}`), make: ({ lib }) => lib.createGenerator(value) });
      } else if (r < 0.16) {
        const [key, value] = pick(random, [['modle', 'x'], ['privcy', 'local-only'], ['memmory', 'auto'], ['providers ', []], ['apiKey', 'k']]);
        calls.push({ entry, expected: key, label: label(`unknown ${key}`), make: ({ lib }) => lib.createGenerator({ model: 'https://example.org/models/demo/', [key]: value }) });
      } else {
        const key = pick(random, Object.keys(BAD_GENERATOR_OPTIONS));
        const value = pick(random, BAD_GENERATOR_OPTIONS[key]);
        const options = key === 'providers' ? { model: 'https://example.org/models/demo/', privacy: 'prefer-local', providers: value } : { model: 'https://example.org/models/demo/', [key]: value };
        const expected = key === 'providers' ? providerField(value) : key === 'engine' ? engineField(value) : key;
        calls.push({ entry, expected, label: label(`${key}=${describe(value)}`), make: ({ lib }) => lib.createGenerator(options) });
      }
    } else if (entry === 'generate' || entry === 'validate') {
      const r = random();
      let params;
      let expected;
      let what;
      if (r < 0.08) {
        params = pick(random, [undefined, null, 'a fox', 42, [], true]);
        expected = 'params';
        what = `params=${describe(params)}`;
      } else if (r < 0.16) {
        const [key, value] = pick(random, UNKNOWN_REQUEST_KEYS);
        params = { ...baseRequest(), [key]: value };
        expected = key;
        what = `unknown ${key}`;
      } else if (r < 0.26) {
        const value = pick(random, BAD_EMBEDDINGS);
        params = { promptEmbeddings: value, width: 512, height: 512 };
        expected = /^promptEmbeddings/;
        what = `promptEmbeddings=${describe(value)}`;
      } else {
        const key = pick(random, Object.keys(BAD_REQUEST_FIELDS));
        const value = pick(random, BAD_REQUEST_FIELDS[key]);
        params = { ...baseRequest(), [key]: value };
        expected = key;
        what = `${key}=${describe(value)}`;
      }
      calls.push({ entry, expected, label: label(what), make: ({ generator }) => (entry === 'generate' ? generator.generate(params) : generator.validate(params)) });
    } else if (entry === 'bfl.submit') {
      const r = random();
      if (r < 0.1) {
        const model = pick(random, [42, null, 'sdxl', '', {}]);
        calls.push({ entry, expected: 'model', label: label(`model=${describe(model)}`), make: ({ generator }) => generator.bfl.submit(model, { prompt: 'a fox' }) });
      } else if (r < 0.18) {
        const body = pick(random, [null, 'a fox', 42, undefined]);
        calls.push({ entry, expected: 'body', label: label(`body=${describe(body)}`), make: ({ generator }) => generator.bfl.submit('flux-dev', body) });
      } else {
        const key = pick(random, Object.keys(BAD_BFL_FIELDS));
        const value = pick(random, BAD_BFL_FIELDS[key]);
        const body = { prompt: 'a red fox', width: 512, height: 512, [key]: value };
        if (key === 'aspect_ratio') {
          delete body.width;
          delete body.height;
        }
        calls.push({ entry, expected: key, label: label(`${key}=${describe(value)}`), make: ({ generator }) => generator.bfl.submit('flux-dev', body) });
      }
    } else if (entry === 'images.generate') {
      const r = random();
      if (r < 0.08) {
        const request = pick(random, [null, 'a fox', 42, [], undefined]);
        calls.push({ entry, expected: null, label: label(`request=${describe(request)}`), make: ({ generator }) => generator.images.generate(request) });
      } else {
        const key = pick(random, Object.keys(BAD_OPENAI_FIELDS));
        const value = pick(random, BAD_OPENAI_FIELDS[key]);
        calls.push({ entry, expected: key, label: label(`${key}=${describe(value)}`), make: ({ generator }) => generator.images.generate({ prompt: 'a red fox', size: '512x512', [key]: value }) });
      }
    } else if (entry === 'createProvider') {
      const r = random();
      if (r < 0.08) {
        const config = pick(random, NOT_AN_OBJECT.concat([undefined, []]));
        calls.push({ entry, expected: 'config', label: label(`config=${describe(config)}`), make: ({ lib }) => lib.createProvider(config) });
      } else {
        const key = pick(random, Object.keys(BAD_PROVIDER_CONFIGS));
        const value = pick(random, BAD_PROVIDER_CONFIGS[key]);
        calls.push({ entry, expected: key, label: label(`${key}=${describe(value)}`), make: ({ lib }) => lib.createProvider({ kind: 'bfl', apiKey: 'k-123', [key]: value }) });
      }
    } else if (entry === 'provider.generate') {
      const r = random();
      if (r < 0.15) {
        const [key, value] = pick(random, [['signal', {}], ['signal', 'x'], ['onProgress', 42], ['onProgress', 'log']]);
        calls.push({ entry, expected: key, label: label(`options.${key}=${describe(value)}`), make: ({ provider }) => provider.generate({ prompt: 'a fox', width: 512, height: 512, numImages: 1, outputFormat: 'png' }, { [key]: value }) });
      } else {
        const key = pick(random, ['prompt', 'width', 'height', 'steps', 'seed', 'numImages', 'outputFormat', 'model', 'extra']);
        const pool = {
          prompt: BAD_REQUEST_FIELDS.prompt,
          width: [...NOT_A_NUMBER, 0, -1, 1.5, Number.NaN],
          height: [...NOT_A_NUMBER, 0, -8, Number.POSITIVE_INFINITY],
          steps: [0, -1, 1.5, '4', null],
          seed: BAD_REQUEST_FIELDS.seed,
          numImages: BAD_REQUEST_FIELDS.numImages,
          outputFormat: BAD_REQUEST_FIELDS.outputFormat,
          model: [42, '', {}],
          extra: [1],
        }[key];
        const value = pick(random, pool);
        calls.push({ entry, expected: key, label: label(`${key}=${describe(value)}`), make: ({ provider }) => provider.generate({ prompt: 'a fox', width: 512, height: 512, numImages: 1, outputFormat: 'png', [key]: value }) });
      }
    }
  }
  return calls;
}

/** A short text for a value, for case labels. */
export function describe(value) {
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…(${value.length})` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return typeof value;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.length})`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** The field an error names (InvalidParameterError.field, OpenAI `param`, BFL `loc[1]`), or undefined. */
export function namedField(error) {
  if (!error || typeof error !== 'object') return undefined;
  if (error.name === 'InvalidParameterError') return error.field;
  if (error.name === 'OpenAIRequestError') return error.param;
  if (error.name === 'BflValidationError') return error.detail?.[0]?.loc?.[1];
  return undefined;
}

/**
 * Runs one bad call: `typed` (a typed error naming the expected field), `wrong-field`,
 * `untyped`, `accepted` (it succeeded, or it reached the engine or the network), or
 * `hang` (no answer within `timeoutMs`).
 */
export async function runBadCall(call, context, timeoutMs = 2000) {
  const before = context.reached();
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve({ hang: true }), timeoutMs)));
  const run = (async () => {
    try {
      await call.make(context);
      return { accepted: true };
    } catch (error) {
      return { error };
    }
  })();
  const outcome = await Promise.race([run, timeout]);
  clearTimeout(timer);
  const reached = context.reached() > before;
  if (outcome.hang) return { outcome: 'hang', label: call.label };
  if (outcome.accepted || reached) return { outcome: 'accepted', label: call.label };
  const { error } = outcome;
  const typedNames = ['InvalidParameterError', 'OpenAIRequestError', 'BflValidationError'];
  if (!error || !typedNames.includes(error.name) || !(error instanceof context.lib.FluxError)) {
    return { outcome: 'untyped', label: call.label, error: `${error?.name}: ${error?.message}` };
  }
  const field = namedField(error);
  const fieldOk = call.expected === null ? true : call.expected instanceof RegExp ? call.expected.test(field ?? '') : field === call.expected;
  if (!fieldOk) return { outcome: 'wrong-field', label: call.label, error: `${error.name} names ${field}: ${error.message}` };
  if (error.name === 'InvalidParameterError' && !(typeof error.allowed === 'string' && error.allowed.length > 0 && typeof error.reason === 'string')) {
    return { outcome: 'untyped', label: call.label, error: `no allowed/reason: ${error.message}` };
  }
  return { outcome: 'typed', label: call.label };
}

/** Bad values of the widget's attributes (attribute → values). */
export const BAD_ATTRIBUTES = {
  width: ['abc', '17', '0', '1.5', '-16', '99999'],
  height: ['x', '8', '2049', '1e3'],
  // 1–50: FLUX.1 [dev] takes up to 50 (the model's own default applies when absent).
  steps: ['0', 'five', '51', '2.5'],
  guidance: ['1', '5.5', 'high', '3,5'],
  seed: ['-1', 'x', '4294967296'],
  'output-format': ['gif', 'PNG'],
  preview: ['fast', 'on'],
  layout: ['grid', '1'],
  theme: ['blue', 'night'],
  privacy: ['public', 'local'],
  provider: ['acme', 'BFL'],
  providers: ['[{"kind":"acme"}]', 'bfl', '{"kind":"bfl"}', '[{"kind":"bfl","apiKey":"k"}]', '[1]', '[{"kind":"bfl","timeoutMs":"soon"}]'],
  model: ['http://[::1', 'javascript:alert(1)'],
};

/** The field an attribute's error should name. */
function attributeField(attribute, value) {
  if (attribute === 'providers') {
    let parsed;
    try {
      parsed = JSON.parse(value);
    } catch {
      return 'providers';
    }
    if (!Array.isArray(parsed)) return 'providers';
    const entry = parsed[0];
    if (typeof entry !== 'object' || entry === null) return 'providers[0]';
    if ('apiKey' in entry) return 'providers[0]';
    if (entry.kind === 'acme') return 'providers[0].kind';
    return /^providers\[0\]/;
  }
  if (attribute === 'provider') return /^provider(\.kind)?$/;
  return attribute;
}

/**
 * Randomized bad input at the widget (`<flux-generator>`, defined on `doc`'s window):
 * attributes (the answer is an `error` event with a typed error), methods (`generate`,
 * `setParams`) and properties (`providers`, `model`, `privacy`). Every element is remote-
 * only through an unreachable proxy, so a call that got through would show as a fetch.
 * @returns outcome counts and the failures
 */
export async function runWidgetBad(doc, seed, count, lib) {
  const random = rng(seed);
  const win = doc.defaultView;
  let reached = 0;
  const realFetch = win.fetch;
  win.fetch = async () => {
    reached++;
    throw new Error('network reached');
  };
  const outcomes = {};
  const failures = [];
  const note = (outcome, label, detail = '') => {
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (outcome !== 'typed') failures.push(`${outcome}: ${label}${detail ? ` → ${detail}` : ''}`);
  };
  const judge = (error, expected, label) => {
    const field = namedField(error);
    if (!error || error.name !== 'InvalidParameterError' || !(error instanceof lib.FluxError)) return note('untyped', label, `${error?.name}: ${error?.message}`);
    const ok = expected instanceof RegExp ? expected.test(field ?? '') : field === expected;
    note(ok ? 'typed' : 'wrong-field', label, ok ? '' : `names ${field}: ${error.message}`);
  };
  const element = (attributes) => {
    const el = doc.createElement('flux-generator');
    for (const [name, value] of Object.entries({ privacy: 'remote-only', provider: 'bfl', 'provider-base-url': '/no-such-proxy/bfl', ...attributes })) el.setAttribute(name, value);
    return el;
  };
  const settle = () => new Promise((done) => setTimeout(done, 0));
  try {
    const base = element({});
    doc.body.append(base);
    await settle();
    for (let i = 0; i < count; i++) {
      const kind = ['attribute', 'generate', 'setParams', 'property'][i % 4];
      const before = reached;
      if (kind === 'attribute') {
        const attribute = pick(random, Object.keys(BAD_ATTRIBUTES));
        const value = pick(random, BAD_ATTRIBUTES[attribute]);
        const label = `#${i} attribute ${attribute}=${describe(value)}`;
        const el = element(attribute === 'model' ? { model: value, privacy: 'local-only' } : { [attribute]: value });
        const seen = new Promise((done) => {
          el.addEventListener('error', (event) => done(event.detail.error), { once: true });
          setTimeout(() => done(undefined), 1000);
        });
        doc.body.append(el);
        const error = await seen;
        el.remove();
        if (error === undefined) note('accepted', label);
        else judge(error, attributeField(attribute, value), label);
      } else if (kind === 'generate') {
        const key = pick(random, Object.keys(BAD_REQUEST_FIELDS).filter((k) => k !== 'signal' || true));
        const value = pick(random, BAD_REQUEST_FIELDS[key]);
        const label = `#${i} generate ${key}=${describe(value)}`;
        try {
          await base.generate({ prompt: 'a fox', width: 512, height: 512, [key]: value });
          note('accepted', label);
        } catch (error) {
          if (reached > before) note('accepted', label, 'reached the network');
          else judge(error, key, label);
        }
      } else if (kind === 'setParams') {
        const [key, value] = pick(random, [['width', '512'], ['height', null], ['steps', {}], ['seed', 'x'], ['prompt', 42], ['outputFormat', 'gif'], ['outputFormat', 1], ['numImages', 2], ['signal', {}]]);
        const label = `#${i} setParams ${key}=${describe(value)}`;
        try {
          base.setParams({ [key]: value });
          note('accepted', label);
        } catch (error) {
          judge(error, key, label);
        }
      } else {
        const [key, value] = pick(random, [['providers', 'bfl'], ['providers', {}], ['providers', 42], ['model', 42], ['model', {}], ['privacy', 'public'], ['privacy', 3]]);
        const label = `#${i} property ${key}=${describe(value)}`;
        try {
          base[key] = value;
          note('accepted', label);
        } catch (error) {
          judge(error, key, label);
        }
      }
    }
    base.remove();
  } finally {
    win.fetch = realFetch;
  }
  return { outcomes, failures, reached };
}
