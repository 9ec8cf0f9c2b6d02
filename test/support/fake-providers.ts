/**
 * Real HTTP servers on 127.0.0.1 (node:http, port 0) that speak each hosted provider's
 * protocol — Black Forest Labs, fal, Replicate, OpenAI-compatible, Monica, AI/ML API —
 * with scripted failures: slow queues, 429 with Retry-After, 5xx then success, fixed
 * error statuses (401, 402, …), moderation, task errors, result images that expire,
 * answers missing a field, and a phase that never answers. BFL's `polling_url` points
 * at a second server on another port. Every request is recorded (method, URL, headers,
 * body) so tests can check where keys went and how fields were mapped. Images are real
 * PNGs (fast-png) of the size the request implies.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { encode } from 'fast-png';

/** The protocols the fakes speak. */
export type FakeKind = 'bfl' | 'fal' | 'replicate' | 'openai' | 'monica' | 'aimlapi';

/** The phases of a remote generation, for scripting. */
export type FakePhase = 'submit' | 'poll' | 'result' | 'image' | 'cancel';

/** One recorded request. */
export interface RecordedRequest {
  /** 'api' (the base URL's server) or 'poll' (BFL's second server). */
  server: 'api' | 'poll';
  phase: FakePhase | 'unknown';
  method: string;
  /** Path and query, as sent. */
  url: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  /** The JSON body, when there was one. */
  body: unknown;
  /** The response (for scripted redirects and resets). */
  res?: http.ServerResponse;
}

/** What the fake does. Every field is optional: by default a fast, successful generation. */
export interface FakeScript {
  /** Status polls answered "not ready" before the final one (queue/progress states). Default 0. */
  pendingPolls?: number;
  /** The first `times` requests of phase `on` (default submit) answer 429 with this Retry-After (header omitted when undefined). */
  rateLimit?: { times: number; retryAfter?: string; on?: FakePhase };
  /** The first `times` requests of phase `on` (default submit) answer `status` (default 503). */
  serverErrors?: { times: number; status?: number; on?: FakePhase };
  /** Every request of phase `on` (default submit) answers `status` with `body`. */
  fail?: { status: number; body?: unknown; on?: FakePhase };
  /** How the task ends. Default 'ready'. */
  outcome?: 'ready' | 'error' | 'content-moderated' | 'request-moderated' | 'not-found' | 'nsfw' | 'some-nsfw' | 'canceled' | 'unknown-status';
  /** Image URLs serve `afterFetches` GETs, then answer `status`. */
  imageExpiry?: { afterFetches: number; status: 403 | 404 };
  /** A dotted path ('polling_url', 'result.sample', 'images.0.url', …) left out of every JSON answer that has it. */
  omit?: string;
  /** This phase never answers (the connection stays open until close()). */
  hang?: FakePhase;
  /** Size of the served PNGs (default: what the request implies). */
  imageSize?: { width: number; height: number };
  /** When set, API requests without exactly this key (in the provider's header) get 401. */
  expectKey?: string;
  /** fal: status_url, response_url and cancel_url as paths relative to the base URL (as a proxy might answer). */
  relativeUrls?: boolean;
  /** Seed reported when the request sent none. Default 424242. */
  defaultSeed?: number;
  /** Send CORS headers (and answer preflights) as a browser-friendly API or proxy would. Default false. */
  cors?: boolean;
  /** With `cors`: the value of Access-Control-Expose-Headers (e.g. 'Retry-After'); none by default, as most APIs. */
  exposeHeaders?: string;
  /** With `cors`: the value of Access-Control-Allow-Headers (default: every header the clients send). */
  allowHeaders?: string;
  /**
   * Every error answer (401, 422, 429, 5xx, …) echoes the request's headers in its body, as
   * a careless proxy or debug endpoint does; BFL's task errors and statuses echo them too.
   */
  echoHeaders?: boolean;
  /**
   * Requests of phase `on` (default submit) answer `status` (default 307) with this Location
   * (absolute, or relative for loops): the first `times`, or all when `times` is omitted.
   */
  redirect?: { location: string; status?: number; on?: FakePhase; times?: number };
  /** Requests of this phase get their connection destroyed instead of an answer (a reset). */
  reset?: FakePhase;
}

/** A running fake provider. */
export interface FakeProvider {
  kind: FakeKind;
  /** The API root to configure as `baseUrl`. */
  baseUrl: string;
  /** BFL only: the root of the polling server (another port). */
  pollBaseUrl?: string;
  requests: RecordedRequest[];
  /** Requests of one phase. */
  phase(phase: FakePhase): RecordedRequest[];
  /** Stops the servers, cutting open connections. */
  close(): Promise<void>;
}

const PNG_CACHE = new Map<string, Uint8Array>();

/** A solid-colour RGB PNG of the given size (cached). */
export function pngBytes(width: number, height: number): Uint8Array {
  const key = `${width}x${height}`;
  let bytes = PNG_CACHE.get(key);
  if (!bytes) {
    const data = new Uint8Array(width * height * 3);
    for (let i = 0; i < data.length; i += 3) {
      data[i] = 200;
      data[i + 1] = 80;
      data[i + 2] = 40;
    }
    bytes = encode({ width, height, data, channels: 3, depth: 8 });
    PNG_CACHE.set(key, bytes);
  }
  return bytes;
}

/** Pixel sizes of Replicate's FLUX aspect ratios at 1 megapixel (as cog-flux makes them). */
const REPLICATE_RATIOS: Record<string, [number, number]> = {
  '1:1': [1024, 1024],
  '16:9': [1344, 768],
  '21:9': [1536, 640],
  '3:2': [1216, 832],
  '2:3': [832, 1216],
  '4:5': [896, 1088],
  '5:4': [1088, 896],
  '3:4': [896, 1152],
  '4:3': [1152, 896],
  '9:16': [768, 1344],
  '9:21': [640, 1536],
};

interface Task {
  id: string;
  body: Record<string, unknown>;
  polls: number;
  size: { width: number; height: number };
  count: number;
  seed: number;
}

type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;

/** Starts a fake provider speaking `kind`'s protocol. */
export async function startFakeProvider(kind: FakeKind, script: FakeScript = {}): Promise<FakeProvider> {
  const requests: RecordedRequest[] = [];
  const counts = new Map<FakePhase, number>();
  const tasks = new Map<string, Task>();
  const imageFetches = new Map<string, number>();
  let nextId = 1;
  const servers: http.Server[] = [];

  const apiServer = http.createServer((req, res) => void handle('api', req, res));
  const pollServer = kind === 'bfl' ? http.createServer((req, res) => void handle('poll', req, res)) : undefined;
  const apiPort = await listen(apiServer);
  servers.push(apiServer);
  const baseUrl = `http://127.0.0.1:${apiPort}`;
  let pollBaseUrl: string | undefined;
  if (pollServer) {
    pollBaseUrl = `http://127.0.0.1:${await listen(pollServer)}`;
    servers.push(pollServer);
  }

  async function handle(server: 'api' | 'poll', req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (script.cors) {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Access-Control-Allow-Headers', script.allowHeaders ?? 'authorization, content-type, prefer, x-key');
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, OPTIONS');
      res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
      if (script.exposeHeaders) res.setHeader('Access-Control-Expose-Headers', script.exposeHeaders);
      if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      body = undefined;
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    const record: RecordedRequest = { server, phase: 'unknown', method: req.method ?? 'GET', url: req.url ?? '/', path: url.pathname, headers: req.headers, rawBody, body };
    Object.defineProperty(record, 'res', { value: res, enumerable: false });
    requests.push(record);
    const reply: Reply = (status, answer, headers = {}) => {
      if (script.echoHeaders && status >= 400) {
        const credential = req.headers['x-key'] ?? req.headers.authorization;
        answer = { detail: `${describe(answer)} (credentials received: ${credential}); request headers were ${JSON.stringify(req.headers)}` };
      }
      const text = JSON.stringify(omitPath(answer, script.omit));
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(text);
    };

    // Images are served the same way by every fake.
    const image = /^\/images\/(\d+)x(\d+)\/([^/]+)\.png$/.exec(url.pathname);
    if (image && req.method === 'GET') {
      record.phase = 'image';
      if (gate('image', record, reply)) return;
      const fetches = (imageFetches.get(url.pathname) ?? 0) + 1;
      imageFetches.set(url.pathname, fetches);
      if (script.imageExpiry && fetches > script.imageExpiry.afterFetches) {
        res.writeHead(script.imageExpiry.status, { 'content-type': 'application/xml' });
        res.end('<Error><Code>AuthenticationFailed</Code><Message>Signature expired</Message></Error>');
        return;
      }
      const bytes = pngBytes(Number(image[1]), Number(image[2]));
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(bytes.length) });
      res.end(bytes);
      return;
    }
    protocols[kind](server, req.method ?? 'GET', url, record, reply);
  }

  /** Applies the scripted hang / fail / 429 / 5xx / key check to a phase; true when it answered. */
  function gate(phase: FakePhase, record: RecordedRequest, reply: Reply): boolean {
    record.phase = phase;
    const n = (counts.get(phase) ?? 0) + 1;
    counts.set(phase, n);
    if (script.hang === phase) return true; // never answer
    if (script.reset === phase) {
      record.res?.socket?.destroy();
      return true;
    }
    if (script.redirect && (script.redirect.on ?? 'submit') === phase && n <= (script.redirect.times ?? Infinity)) {
      record.res?.writeHead(script.redirect.status ?? 307, { location: script.redirect.location, 'content-type': 'text/plain' }).end('moved');
      return true;
    }
    if (script.expectKey !== undefined && phase !== 'image' && !hasKey(kind, record.headers, script.expectKey)) {
      reply(401, { detail: 'Not authenticated' });
      return true;
    }
    if (script.fail && (script.fail.on ?? 'submit') === phase) {
      reply(script.fail.status, script.fail.body ?? { detail: `scripted HTTP ${script.fail.status}` });
      return true;
    }
    if (script.rateLimit && (script.rateLimit.on ?? 'submit') === phase && n <= script.rateLimit.times) {
      reply(429, { detail: 'Too many requests' }, script.rateLimit.retryAfter === undefined ? {} : { 'retry-after': script.rateLimit.retryAfter });
      return true;
    }
    if (script.serverErrors && (script.serverErrors.on ?? 'submit') === phase && n <= script.serverErrors.times) {
      reply(script.serverErrors.status ?? 503, { detail: 'upstream unavailable' });
      return true;
    }
    return false;
  }

  function newTask(body: Record<string, unknown>, size: { width: number; height: number }, count: number): Task {
    const id = `task-${nextId++}`;
    const seed = typeof body.seed === 'number' ? body.seed : script.defaultSeed ?? 424242;
    const task: Task = { id, body, polls: 0, size: script.imageSize ?? size, count, seed };
    tasks.set(id, task);
    return task;
  }

  function imageUrls(task: Task): string[] {
    return Array.from({ length: task.count }, (_, i) => `${baseUrl}/images/${task.size.width}x${task.size.height}/${task.id}-${i}.png?se=2030-01-01&sig=SECRET-SIGNATURE`);
  }

  type Handler = (server: 'api' | 'poll', method: string, url: URL, record: RecordedRequest, reply: Reply) => void;

  const protocols: Record<FakeKind, Handler> = {
    bfl(server, method, url, record, reply) {
      if (server === 'api' && method === 'POST' && /^\/v1\/[\w.-]+$/.test(url.pathname)) {
        if (gate('submit', record, reply)) return;
        const body = asObject(record.body);
        const size = typeof body.width === 'number' ? { width: body.width, height: body.height as number } : sizeFromAspect(String(body.aspect_ratio ?? '16:9'));
        const task = newTask(body, size, 1);
        reply(200, { id: task.id, polling_url: `${pollBaseUrl}/v1/get_result?id=${task.id}` });
        return;
      }
      if (server === 'poll' && method === 'GET' && url.pathname === '/v1/get_result') {
        if (gate('poll', record, reply)) return;
        const task = tasks.get(url.searchParams.get('id') ?? '');
        if (!task) return reply(200, { id: url.searchParams.get('id'), status: 'Task not found' });
        task.polls++;
        if (task.polls <= (script.pendingPolls ?? 0)) {
          return reply(200, { id: task.id, status: task.polls === 1 ? 'Pending' : 'Processing', result: null, progress: task.polls / ((script.pendingPolls ?? 0) + 1) });
        }
        switch (script.outcome ?? 'ready') {
          case 'error':
            return reply(200, { id: task.id, status: 'Error', result: null, details: { message: 'Internal generation failure', ...(script.echoHeaders ? { request_headers: record.headers } : {}) } });
          case 'content-moderated':
          case 'nsfw':
            return reply(200, { id: task.id, status: 'Content Moderated', result: null, details: { 'Moderation Reasons': ['Derivative Works Filter'] } });
          case 'request-moderated':
            return reply(200, { id: task.id, status: 'Request Moderated', result: null, details: { 'Moderation Reasons': ['Prompt flagged'] } });
          case 'not-found':
            return reply(200, { id: task.id, status: 'Task not found' });
          case 'unknown-status':
            return reply(200, { id: task.id, status: 'Exploded' });
          default:
            return reply(200, { id: task.id, status: 'Ready', progress: 1, result: { sample: imageUrls(task)[0], seed: task.seed, prompt: task.body.prompt, start_time: 1, end_time: 2, duration: 1 } });
        }
      }
      notFound(reply);
    },

    fal(_server, method, url, record, reply) {
      const requestPath = /^\/(.+)\/requests\/([\w-]+)(\/status|\/cancel)?$/.exec(url.pathname);
      if (method === 'POST' && !requestPath) {
        if (gate('submit', record, reply)) return;
        const body = asObject(record.body);
        const imageSize = asObject(body.image_size);
        const task = newTask(body, { width: Number(imageSize.width ?? 1024), height: Number(imageSize.height ?? 768) }, Number(body.num_images ?? 1));
        // fal drops the model's sub-path in its request URLs (fal-ai/flux/schnell → fal-ai/flux).
        const app = url.pathname.split('/').slice(1, 3).join('/');
        const base = `${script.relativeUrls ? '' : baseUrl}/${app}/requests/${task.id}`;
        return reply(200, { request_id: task.id, response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel`, queue_position: 0 });
      }
      if (!requestPath) return notFound(reply);
      const task = tasks.get(requestPath[2]);
      if (requestPath[3] === '/cancel' && method === 'PUT') {
        if (gate('cancel', record, reply)) return;
        return reply(202, { status: 'CANCELLATION_REQUESTED' });
      }
      if (!task) return reply(404, { detail: 'Request not found' });
      if (requestPath[3] === '/status' && method === 'GET') {
        if (gate('poll', record, reply)) return;
        task.polls++;
        const pending = script.pendingPolls ?? 0;
        if (task.polls <= pending) {
          const queued = task.polls <= Math.ceil(pending / 2);
          return reply(202, queued ? { status: 'IN_QUEUE', queue_position: pending - task.polls, response_url: `${baseUrl}${url.pathname.replace(/\/status$/, '')}` } : { status: 'IN_PROGRESS', logs: [] });
        }
        if (script.outcome === 'error') return reply(200, { status: 'COMPLETED', error: 'Runner crashed while generating', error_type: 'runner_error' });
        return reply(200, { status: script.outcome === 'unknown-status' ? 'EXPLODED' : 'COMPLETED', logs: [], metrics: { inference_time: 0.4 } });
      }
      if (!requestPath[3] && method === 'GET') {
        if (gate('result', record, reply)) return;
        const urls = imageUrls(task);
        const flags = urls.map((_, i) => script.outcome === 'nsfw' || (script.outcome === 'some-nsfw' && i === 0));
        return reply(200, {
          images: urls.map((u) => ({ url: u, width: task.size.width, height: task.size.height, content_type: 'image/png' })),
          timings: { inference: 0.4 },
          seed: task.seed,
          has_nsfw_concepts: flags,
          prompt: task.body.prompt,
        });
      }
      notFound(reply);
    },

    replicate(_server, method, url, record, reply) {
      const prediction = (task: Task): Record<string, unknown> => {
        const urls = { get: `${baseUrl}/v1/predictions/${task.id}`, cancel: `${baseUrl}/v1/predictions/${task.id}/cancel`, stream: `${baseUrl}/stream/${task.id}` };
        const base = { id: task.id, model: 'black-forest-labs/flux-schnell', input: task.body, urls, created_at: new Date().toISOString() };
        if (task.polls < (script.pendingPolls ?? 0)) return { ...base, status: task.polls === 0 ? 'starting' : 'processing', output: null, error: null, logs: '' };
        switch (script.outcome ?? 'ready') {
          case 'nsfw':
            return { ...base, status: 'failed', output: null, error: 'NSFW content detected in all 1 images. Try running it again, or try a different prompt.', logs: '' };
          case 'error':
            return { ...base, status: 'failed', output: null, error: 'CUDA out of memory', logs: '' };
          case 'canceled':
            return { ...base, status: 'canceled', output: null, error: null, logs: '' };
          default:
            return { ...base, status: 'succeeded', output: imageUrls(task), error: null, logs: `Using seed: ${task.seed}\nRunning inference\n`, metrics: { predict_time: 0.5 } };
        }
      };
      if (method === 'POST' && /^\/v1\/models\/[\w.-]+\/[\w.-]+\/predictions$/.test(url.pathname)) {
        if (gate('submit', record, reply)) return;
        const input = asObject(asObject(record.body).input);
        const ratio = REPLICATE_RATIOS[String(input.aspect_ratio ?? '1:1')] ?? [1024, 1024];
        const scale = input.megapixels === '0.25' ? 0.5 : 1;
        const task = newTask(input, { width: ratio[0] * scale, height: ratio[1] * scale }, Number(input.num_outputs ?? 1));
        return reply(201, prediction(task));
      }
      const poll = /^\/v1\/predictions\/([\w-]+)(\/cancel)?$/.exec(url.pathname);
      if (poll) {
        const task = tasks.get(poll[1]);
        if (poll[2] && method === 'POST') {
          if (gate('cancel', record, reply)) return;
          return reply(200, task ? { ...prediction(task), status: 'canceled' } : {});
        }
        if (method === 'GET') {
          if (gate('poll', record, reply)) return;
          if (!task) return reply(404, { detail: 'Not found.' });
          task.polls++;
          return reply(200, prediction(task));
        }
      }
      notFound(reply);
    },

    openai(_server, method, url, record, reply) {
      if (method === 'POST' && url.pathname.endsWith('/images/generations')) {
        if (gate('submit', record, reply)) return;
        if (script.outcome === 'request-moderated') {
          return reply(400, { error: { code: 'content_policy_violation', message: 'Your request was rejected as a result of our safety system.', type: 'invalid_request_error' } });
        }
        const body = asObject(record.body);
        const [width, height] = String(body.size ?? '1024x1024').split('x').map(Number);
        const task = newTask(body, { width, height }, Number(body.n ?? 1));
        const asUrl = body.response_format === 'url';
        const data = imageUrls(task).map((u) => (asUrl ? { url: u, revised_prompt: null } : { b64_json: Buffer.from(pngBytes(task.size.width, task.size.height)).toString('base64') }));
        return reply(200, { created: 1_700_000_000, data });
      }
      notFound(reply);
    },

    monica(_server, method, url, record, reply) {
      if (method === 'POST' && url.pathname === '/v1/image/gen/flux') {
        if (gate('submit', record, reply)) return;
        if (script.outcome === 'request-moderated') return reply(400, { error: { code: 'content_moderation', message: 'The prompt was flagged by content moderation.' } });
        const body = asObject(record.body);
        const [width, height] = String(body.size ?? '1024x1024').split('x').map(Number);
        const task = newTask(body, { width, height }, Number(body.num_outputs ?? 1));
        return reply(200, { data: imageUrls(task).map((u) => ({ url: u })) });
      }
      notFound(reply);
    },

    aimlapi(_server, method, url, record, reply) {
      if (method === 'POST' && url.pathname === '/v1/images/generations') {
        if (gate('submit', record, reply)) return;
        const body = asObject(record.body);
        // image_size is {width, height} or one of fal's preset names.
        const presets: Record<string, { width: number; height: number }> = {
          square_hd: { width: 1024, height: 1024 }, square: { width: 512, height: 512 }, portrait_4_3: { width: 768, height: 1024 },
          portrait_16_9: { width: 576, height: 1024 }, landscape_4_3: { width: 1024, height: 768 }, landscape_16_9: { width: 1024, height: 576 },
        };
        if (typeof body.image_size === 'string' && !(body.image_size in presets)) return reply(422, { detail: [{ loc: ['body', 'image_size'], msg: 'not a preset' }] });
        const imageSize = typeof body.image_size === 'string' ? presets[body.image_size] : asObject(body.image_size);
        const task = newTask(body, { width: Number(imageSize.width ?? 1024), height: Number(imageSize.height ?? 768) }, Number(body.num_images ?? 1));
        const urls = imageUrls(task);
        return reply(201, {
          images: urls.map((u) => ({ url: u, width: task.size.width, height: task.size.height, content_type: 'image/png' })),
          timings: { inference: 0.3 },
          seed: task.seed,
          has_nsfw_concepts: urls.map(() => script.outcome === 'nsfw'),
          prompt: body.prompt,
        });
      }
      notFound(reply);
    },
  };

  return {
    kind,
    baseUrl,
    pollBaseUrl,
    requests,
    phase: (phase) => requests.filter((r) => r.phase === phase),
    async close() {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    },
  };
}

/** A port on 127.0.0.1 nobody listens on (for connection-refused tests). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function hasKey(kind: FakeKind, headers: http.IncomingHttpHeaders, key: string): boolean {
  if (kind === 'bfl') return headers['x-key'] === key;
  if (kind === 'fal') return headers.authorization === `Key ${key}`;
  return headers.authorization === `Bearer ${key}`;
}

/** A short text of an answer body (its `detail` when it has one). */
function describe(answer: unknown): string {
  const detail = (answer as { detail?: unknown } | null)?.detail;
  return typeof detail === 'string' ? detail : JSON.stringify(answer);
}

function notFound(reply: Reply): void {
  reply(404, { detail: 'Not Found' });
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

/** About one megapixel at aspect "W:H", sides multiples of 32 (BFL Ultra/Kontext pick their own size). */
function sizeFromAspect(aspect: string): { width: number; height: number } {
  const [w, h] = aspect.split(':').map(Number);
  const ratio = w > 0 && h > 0 ? w / h : 16 / 9;
  const height = Math.round(Math.sqrt(1024 * 1024 / ratio) / 32) * 32;
  return { width: Math.round((height * ratio) / 32) * 32, height };
}

/** A deep copy of `value` without the dotted `path` (array indices allowed), when present. */
function omitPath(value: unknown, path: string | undefined): unknown {
  if (!path || !value || typeof value !== 'object') return value;
  const copy = structuredClone(value) as Record<string, unknown>;
  const keys = path.split('.');
  let node: unknown = copy;
  for (const key of keys.slice(0, -1)) {
    if (!node || typeof node !== 'object') return copy;
    node = (node as Record<string, unknown>)[key];
  }
  if (node && typeof node === 'object') delete (node as Record<string, unknown>)[keys[keys.length - 1]];
  return copy;
}
