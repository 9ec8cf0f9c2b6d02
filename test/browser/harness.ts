/**
 * Browser-test harness: a real headless Chromium (WebGPU on the CPU through SwiftShader)
 * driven by playwright-core, and a real static HTTP server on 127.0.0.1 that records
 * every request, serves byte ranges, sends COOP/COEP headers and can inject faults.
 */
import { existsSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium, type Browser, type LaunchOptions } from 'playwright-core';
import { createServer as createViteServer } from 'vite';

/** Finds a Chromium: $CHROMIUM_PATH, then Playwright's own, then Debian's /usr/bin/chromium. */
export function findChromium(): string {
  const candidates = [process.env.CHROMIUM_PATH, safeExecutablePath(), '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  throw new Error('No Chromium found: set CHROMIUM_PATH or install Debian\'s "chromium" package (.ci/run does this).');
}

function safeExecutablePath(): string | undefined {
  try {
    return chromium.executablePath();
  } catch {
    return undefined;
  }
}

/** Flags for WebGPU on SwiftShader in a closed network. */
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];

/** Launches Chromium; `webgpu: false` starts it with WebGPU disabled. */
export async function launchBrowser(options: { webgpu?: boolean } & LaunchOptions = {}): Promise<Browser> {
  const { webgpu = true, ...rest } = options;
  const args = webgpu ? CHROMIUM_ARGS : [...CHROMIUM_ARGS.filter((a) => !a.includes('webgpu')), '--disable-webgpu', '--disable-features=WebGPU'];
  return chromium.launch({ executablePath: findChromium(), args, headless: true, ...rest });
}

/** One request the server saw. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A fault to inject for requests whose path matches. */
export interface Fault {
  match: (path: string) => boolean;
  /** Send only this many bytes of the body, then destroy the connection. */
  cutAfterBytes?: number;
  /** Send only this many bytes of the body, then send nothing more (the connection stays open). */
  stallAfterBytes?: number;
  /** Answer with this status instead. */
  status?: number;
  /** With `status`: a Retry-After header. */
  retryAfter?: string;
  /** Invert the byte at this file offset in the body (when the body covers it). */
  flipByteAt?: number;
  /** Answer a Range request with 206 but from byte 0 (`Content-Range: bytes 0-…`), as a broken server does. */
  rangeFromZero?: boolean;
  /** Only requests with a Range header (e.g. a resumption) are affected. */
  onlyRanged?: boolean;
  /** How many times to apply it (default once). */
  times?: number;
}

/** A running static server. */
export interface StaticServer {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  requests: RecordedRequest[];
  faults: Fault[];
  /** File body bytes handed to the network per URL path (error bodies not counted). */
  bodyBytesSent: Map<string, number>;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * Serves folders over HTTP on 127.0.0.1.
 * @param mounts URL prefix → folder, e.g. {'/': 'dist', '/models/golden/': '/tmp/pkg'}
 * @param headers extra headers for every response
 */
export async function startStaticServer(mounts: Record<string, string>, headers: Record<string, string> = {}): Promise<StaticServer> {
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const bodyBytesSent = new Map<string, number>();
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      requests.push({ method: req.method ?? 'GET', url: url.pathname + url.search, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      serve(url.pathname, req, res);
    });
  });

  const serve = (path: string, req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    // Model packages may be fetched from another origin (a CDN): allow CORS and embedding.
    res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Range');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, Accept-Ranges, Retry-After');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    const prefix = prefixes.find((p) => path.startsWith(p));
    if (!prefix) return void res.writeHead(404).end('not found');
    const root = resolve(mounts[prefix]);
    let file = normalize(join(root, decodeURIComponent(path.slice(prefix.length))));
    if (!file.startsWith(root)) return void res.writeHead(403).end('forbidden');
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) return void res.writeHead(404).end('not found');

    const fault = faults.find((f) => f.match(path) && (f.times ?? 1) > 0 && (!f.onlyRanged || req.headers.range !== undefined));
    if (fault) fault.times = (fault.times ?? 1) - 1;
    if (fault?.status) return void res.writeHead(fault.status, fault.retryAfter === undefined ? {} : { 'Retry-After': fault.retryAfter }).end('injected failure');

    const size = statSync(file).size;
    let start = 0;
    let end = size - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    res.setHeader('Accept-Ranges', 'bytes');
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) return void res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      if (fault?.rangeFromZero) start = 0;
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
    } else res.writeHead(200, { 'Content-Length': size });
    if (req.method === 'HEAD') return void res.end();
    void sendBody(res, path, file, start, end, fault);
  };

  /**
   * Sends bytes `start…end` of `file` in 64 KiB pieces, each after the previous one was
   * handed to the network (so `bodyBytesSent` counts what really left, and a cut or a
   * stall happens exactly at its byte), applying the fault's flip, cut or stall.
   */
  const sendBody = async (res: ServerResponse, path: string, file: string, start: number, end: number, fault: Fault | undefined) => {
    let handle: FileHandle | undefined;
    let closed = false;
    res.on('close', () => (closed = true));
    const limit = fault?.cutAfterBytes ?? fault?.stallAfterBytes ?? Infinity;
    try {
      handle = await open(file, 'r');
      let sent = 0;
      for (let pos = start; pos <= end && !closed; ) {
        const length = Math.min(64 * 1024, end + 1 - pos, limit - sent);
        if (length <= 0) break;
        const piece = Buffer.allocUnsafe(length);
        await handle.read(piece, 0, length, pos);
        const flip = fault?.flipByteAt;
        if (flip !== undefined && flip >= pos && flip < pos + length) piece[flip - pos] ^= 0xff;
        const ok = await new Promise<boolean>((done) => res.write(piece, (error) => done(!error)));
        if (!ok) break;
        sent += length;
        pos += length;
        bodyBytesSent.set(path, (bodyBytesSent.get(path) ?? 0) + length);
      }
      if (closed) return;
      if (sent >= limit && fault?.cutAfterBytes !== undefined) res.destroy();
      else if (sent >= limit) return; // a stall: the connection stays open until the client gives up or the server closes
      else res.end();
    } catch {
      res.destroy();
    } finally {
      await handle?.close();
    }
  };

  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    faults,
    bodyBytesSent,
    close: () => new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}

/** A Vite dev server over the repository's sources (pages import `src/` directly). */
export interface SourceServer {
  /** e.g. http://127.0.0.1:5173 */
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves the repository's sources on 127.0.0.1 with a Vite dev server (no HMR, no
 * pre-bundling: idb-keyval, @noble/hashes and hash-wasm are served as they are), for test
 * and bench pages such as `/test/browser/pages/weight-store.html`.
 * @param cacheDir a temporary folder for Vite's cache
 */
export async function startSourceServer(cacheDir: string): Promise<SourceServer> {
  const vite = await createViteServer({
    configFile: false,
    root: resolve(import.meta.dirname, '../..'),
    logLevel: 'error',
    cacheDir,
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await vite.listen();
  const address = vite.httpServer!.address();
  if (!address || typeof address === 'string') throw new Error('vite did not listen');
  return { origin: `http://127.0.0.1:${address.port}`, close: () => vite.close() };
}
