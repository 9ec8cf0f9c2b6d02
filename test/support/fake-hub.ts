/**
 * A local stand-in for the Hugging Face Hub on 127.0.0.1, speaking its protocol: the
 * paged file listing (`/api/models/{repo}/tree/{rev}?recursive=true`, `Link` rel="next"),
 * `/{repo}/resolve/{rev}/{path}` answering small files itself and redirecting large
 * ones (302, `X-Linked-Etag`, `X-Linked-Size`) to a SECOND origin that serves the bytes
 * with Range, CORS and an ETag, and the Hub's errors (401 RepoNotFound / GatedRepo,
 * 403 GatedRepo with a token without access, 404 RevisionNotFound / EntryNotFound).
 * Faults for the tests: a connection dropped after some bytes, corrupted bytes, a host
 * that ignores Range. Every request but CORS preflights is logged.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One repository. */
export interface FakeRepo {
  /** path → content */
  files: Map<string, Uint8Array>;
  revision?: string;
  /** Needs a token of `FakeHubOptions.tokens` that lists this repository. */
  gated?: boolean;
  /** The licence its model card declares (`/api/models/{repo}` → `cardData.license`, tag `license:…`). */
  license?: string;
}

/** A logged request. */
export interface FakeHubRequest {
  host: 'hub' | 'cdn';
  method: string;
  path: string;
  range?: string;
  authorization?: string;
  /** Body bytes sent (set as they go; a dropped response counts what left before the drop). */
  sent: number;
}

/** Faults to inject; each applies to requests for `path` (a repository file path). */
export interface FakeHubFaults {
  /**
   * Close the connection after sending `afterBytes` body bytes of a ranged response that
   * starts past byte 0 (a tensor, not the header; from byte `from` on when given), `times` times, after letting `skip` of them through.
   */
  drop?: { path: string; afterBytes: number; times: number; skip?: number; from?: number };
  /** Flip the first byte of every body served for `path`. */
  corrupt?: { path: string };
  /** Answer ranged requests for `path` with 200 and the whole file. */
  ignoreRange?: { path: string };
  /**
   * Hold the body of the next ranged response for `path` that starts past byte 0 after
   * `afterBytes` until `release` resolves, then send the rest (a slow connection, for
   * observing an import midway), from byte `from` on (default any). `held` is called when it starts holding.
   */
  stall?: { path: string; afterBytes: number; release: Promise<void>; held?: () => void; from?: number };
}

export interface FakeHubOptions {
  /** token → repositories it may read (gated ones included). */
  tokens?: Record<string, string[]>;
  /** Entries per page of the file listing (default 1000). */
  pageSize?: number;
}

export interface FakeHub {
  hubUrl: string;
  cdnUrl: string;
  requests: FakeHubRequest[];
  faults: FakeHubFaults;
  close(): Promise<void>;
}

const LFS_MIN_BYTES = 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Uint8Array) => createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Content-Range, Content-Length, ETag, Accept-Ranges, X-Linked-Etag, X-Linked-Size, X-Error-Code, X-Error-Message, Link',
};

/** Answers a CORS preflight (a page's request with Range or Authorization); true when it was one. */
function preflight(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'OPTIONS') return false;
  res.writeHead(204, { ...CORS, 'Access-Control-Allow-Methods': 'GET, HEAD', 'Access-Control-Allow-Headers': 'Range, Authorization, Accept', 'Access-Control-Max-Age': '600' }).end();
  return true;
}

/** Sends `body` (or its `Range` part) with faults applied, counting the bytes sent into `log`. */
function sendBytes(req: IncomingMessage, res: ServerResponse, body: Uint8Array, path: string, etag: string, faults: FakeHubFaults, log: { sent: number }, extra: Record<string, string> = {}): void {
  let status = 200;
  let start = 0;
  let end = body.length - 1;
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const headers: Record<string, string> = { ...CORS, ...extra, ETag: `"${etag}"`, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
  if (range && faults.ignoreRange?.path !== path) {
    start = Number(range[1]);
    end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
    if (start >= body.length) {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${body.length}` }).end();
      return;
    }
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${body.length}`;
  }
  let part = body.slice(start, end + 1);
  if (faults.corrupt?.path === path && part.length) {
    part = part.slice();
    part[0] ^= 0xff;
  }
  headers['Content-Length'] = String(part.length);
  res.writeHead(status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const drop = faults.drop;
  const qualifies = drop && drop.path === path && status === 206 && start > 0 && start >= (drop.from ?? 0) && drop.times > 0 && part.length > drop.afterBytes;
  if (qualifies && (drop.skip ?? 0) > 0) drop.skip! -= 1;
  else if (qualifies) {
    drop.times--;
    log.sent += drop.afterBytes;
    res.write(part.subarray(0, drop.afterBytes), () => res.socket?.destroy());
    return;
  }
  const stall = faults.stall;
  if (stall && stall.path === path && status === 206 && start > 0 && start >= (stall.from ?? 0) && part.length > stall.afterBytes) {
    faults.stall = undefined;
    log.sent += stall.afterBytes;
    res.write(part.subarray(0, stall.afterBytes));
    stall.held?.();
    void stall.release.then(() => {
      log.sent += part.length - stall.afterBytes;
      res.end(part.subarray(stall.afterBytes));
    });
    return;
  }
  log.sent += part.length;
  res.end(part);
}

/** Starts the hub and the file host (two origins). */
export async function startFakeHub(repos: Record<string, FakeRepo>, options: FakeHubOptions = {}): Promise<FakeHub> {
  const requests: FakeHubRequest[] = [];
  const faults: FakeHubFaults = {};
  const blobs = new Map<string, { body: Uint8Array; path: string }>();
  for (const repo of Object.values(repos)) for (const [path, body] of repo.files) blobs.set(sha256(body), { body, path });
  const pageSize = options.pageSize ?? 1000;
  let cdnUrl = '';
  let hubUrl = '';

  const log = (host: 'hub' | 'cdn', req: IncomingMessage): FakeHubRequest => {
    const entry: FakeHubRequest = { host, method: req.method!, path: decodeURIComponent(req.url!.split('?')[0]), range: req.headers.range, authorization: req.headers.authorization, sent: 0 };
    requests.push(entry);
    return entry;
  };

  const error = (res: ServerResponse, status: number, code?: string, message?: string) => {
    const headers: Record<string, string> = { ...CORS, 'Content-Type': 'application/json' };
    if (code) headers['X-Error-Code'] = code;
    if (message) headers['X-Error-Message'] = message;
    res.writeHead(status, headers).end(JSON.stringify({ error: message ?? code ?? `HTTP ${status}` }));
  };

  /** Access check; returns false after answering. */
  const allowed = (req: IncomingMessage, res: ServerResponse, repoId: string): FakeRepo | undefined => {
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (token !== undefined && !options.tokens?.[token]) {
      error(res, 401, undefined, 'Invalid credentials in Authorization header');
      return undefined;
    }
    const repo = repos[repoId];
    if (!repo) {
      error(res, token ? 404 : 401, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    if (repo.gated && !token) {
      error(res, 401, 'GatedRepo', 'Access to this model is restricted: you must be authenticated.');
      return undefined;
    }
    if (repo.gated && !options.tokens![token!].includes(repoId)) {
      error(res, 403, 'GatedRepo', 'Access to this model is restricted.');
      return undefined;
    }
    return repo;
  };

  const hub = createServer((req, res) => {
    if (preflight(req, res)) return;
    const logged = log('hub', req);
    const url = new URL(req.url!, 'http://x');
    const info = /^\/api\/models\/([^/]+\/[^/]+)$/.exec(url.pathname);
    if (info) {
      const repo = allowed(req, res, info[1]);
      if (!repo) return;
      const license = repo.license;
      const body = JSON.stringify({ id: info[1], gated: repo.gated ? 'manual' : false, tags: license ? [`license:${license}`] : [], cardData: license ? { license } : {} });
      logged.sent += body.length;
      res.writeHead(200, { ...CORS, 'Content-Type': 'application/json' }).end(body);
      return;
    }
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      const repo = allowed(req, res, tree[1]);
      if (!repo) return;
      if (decodeURIComponent(tree[2]) !== (repo.revision ?? 'main')) return error(res, 404, 'RevisionNotFound', 'Invalid rev id');
      const entries = [...repo.files].map(([path, body]) => ({
        type: 'file',
        oid: gitOid(body),
        size: body.length,
        path,
        ...(body.length >= LFS_MIN_BYTES ? { lfs: { oid: sha256(body), size: body.length, pointerSize: 134 } } : {}),
      }));
      const cursor = Number(url.searchParams.get('cursor') ?? 0);
      const page = entries.slice(cursor, cursor + pageSize);
      const headers: Record<string, string> = { ...CORS, 'Content-Type': 'application/json' };
      if (cursor + pageSize < entries.length) headers.Link = `<${hubUrl}${url.pathname}?recursive=true&cursor=${cursor + pageSize}>; rel="next"`;
      const body = JSON.stringify(page);
      logged.sent += body.length;
      res.writeHead(200, headers).end(body);
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const repo = allowed(req, res, decodeURIComponent(resolve[1]));
      if (!repo) return;
      if (decodeURIComponent(resolve[2]) !== (repo.revision ?? 'main')) return error(res, 404, 'RevisionNotFound', 'Invalid rev id');
      const path = decodeURIComponent(resolve[3]);
      const body = repo.files.get(path);
      if (!body) return error(res, 404, 'EntryNotFound', 'Entry not found');
      if (body.length >= LFS_MIN_BYTES) {
        const sha = sha256(body);
        res.writeHead(302, { ...CORS, Location: `${cdnUrl}/blobs/${sha}?expires=never`, 'X-Linked-Etag': `"${sha}"`, 'X-Linked-Size': String(body.length), ETag: `"${gitOid(body)}"` }).end();
        return;
      }
      sendBytes(req, res, body, path, gitOid(body), faults, logged);
      return;
    }
    error(res, 404);
  });
  const cdn = createServer((req, res) => {
    if (preflight(req, res)) return;
    const logged = log('cdn', req);
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(new URL(req.url!, 'http://x').pathname);
    const blob = m && blobs.get(m[1]);
    if (!blob) return error(res, 404);
    sendBytes(req, res, blob.body, blob.path, m![1], faults, logged);
  });
  hubUrl = await listen(hub);
  cdnUrl = await listen(cdn);
  return {
    hubUrl,
    cdnUrl,
    requests,
    faults,
    close: async () => {
      for (const server of [hub, cdn]) {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    },
  };
}
