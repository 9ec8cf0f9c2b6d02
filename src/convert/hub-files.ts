/**
 * Hugging Face Hub repositories as checkpoint files, read with HTTP Range requests (no
 * file is ever downloaded whole unless it is small and read whole). Browser-safe: only
 * `fetch`.
 *
 * The protocol, as `huggingface_hub` and `@huggingface/hub` speak it:
 * - file list: `GET {hub}/api/models/{repo}/tree/{revision}?recursive=true`, pages
 *   chained by `Link: <…>; rel="next"`; each file `{type, path, size, oid, lfs?: {oid
 *   (sha256), size}}`;
 * - bytes: `GET {hub}/{repo}/resolve/{revision}/{path}` with `Range`, which for large
 *   (LFS/Xet) files redirects to a CDN host that answers 206 with `Content-Range`, CORS
 *   and an `ETag`. The final URL is reused for later ranges until it expires;
 * - errors: `X-Error-Code` RepoNotFound / RevisionNotFound / EntryNotFound / GatedRepo,
 *   401 for a missing or gated repository without a token, 403 with a token that has no
 *   access, 429 with `Retry-After`.
 * The access token travels only in the `Authorization` header of requests to the Hub's
 * own origin (never to the CDN, never in a URL or a message).
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { DEFAULTS } from '../defaults.ts';
import { CheckpointError, DownloadError, HubError, IntegrityError, InvalidParameterError } from '../errors.ts';
import { createIncrementalSha256, type IncrementalSha256 } from '../store/sha256.ts';
import type { CheckpointFiles, RandomAccessFile } from './checkpoint-files.ts';
import type { SourceFile } from './override-files.ts';

/** A parsed `hf:owner/name[@revision][/path]`. */
export interface HubReference {
  repo: string;
  /** Branch, tag or commit; default `main`. */
  revision: string;
  /** A file or folder in the repository; `''` for the root. */
  path: string;
}

/** How to reach the Hub. */
export interface HubOptions {
  /** Default https://huggingface.co (`DEFAULTS.hubUrl`); any server that speaks the same protocol. */
  hubUrl?: string;
  /** Access token for gated or private repositories; sent only as `Authorization: Bearer …` to `hubUrl`. */
  token?: string;
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Attempts per request, ≥ 1 (default `DEFAULTS.hubRetries`). */
  retries?: number;
  /** First back-off in ms, doubling per attempt (default `DEFAULTS.hubRetryDelayMs`). */
  retryDelayMs?: number;
  /** A response body that delivers nothing for this long (ms) is dropped and resumed. */
  idleTimeoutMs?: number;
  /** Called with the bytes of each piece received, for progress. */
  onBytes?: (label: string, bytes: number) => void;
}

/** One file of a repository, as its listing gives it. */
export interface HubEntry {
  path: string;
  size: number;
  /** git blob sha1 (hex). */
  oid: string;
  /** sha256 of the content for LFS/Xet files. */
  sha256?: string;
}

/** A repository at a revision: its listing and its files. */
export interface HubRepository extends CheckpointFiles {
  readonly repo: string;
  readonly revision: string;
  readonly entries: ReadonlyMap<string, HubEntry>;
}

const PREFIX = 'hf:';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether `value` is an `hf:` reference (rather than a local path). */
export function isHubReference(value: string): boolean {
  return value.startsWith(PREFIX);
}

/**
 * Parses `hf:owner/name[@revision][/path]`.
 * @param field the option or flag it came from, for the error
 * @throws InvalidParameterError naming `field` when it is malformed
 */
export function parseHubReference(value: string, field = 'source'): HubReference {
  const allowed = 'hf:owner/name, hf:owner/name@revision, or either followed by /path/in/repo';
  if (!value.startsWith(PREFIX)) throw new InvalidParameterError(field, allowed, value, 'malformed');
  const rest = value.slice(PREFIX.length);
  const m = /^([^/@]+\/[^/@]+)(?:@([^/]+))?(?:\/(.*))?$/.exec(rest);
  if (!m || !NAME.test(m[1]) || (m[3] !== undefined && (m[3] === '' || m[3].split('/').some((p) => p === '' || p === '.' || p === '..')))) {
    throw new InvalidParameterError(field, allowed, value, 'malformed');
  }
  return { repo: m[1], revision: m[2] ?? 'main', path: m[3] ?? '' };
}

/** `hf:` label of a path in a repository (the revision shown unless it is `main`). */
function hubLabel(repo: string, revision: string, path: string): string {
  return `${PREFIX}${repo}${revision === 'main' ? '' : `@${revision}`}${path ? `/${path}` : ''}`;
}

const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const normaliseEtag = (etag: string | null) => etag?.replace(/^W\//, '').replace(/"/g, '') || undefined;

/** A failure worth another attempt (the connection, a timeout, the server's load). */
class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The shared machinery: authorised fetches with retries, error mapping. */
class HubClient {
  readonly hubUrl: string;
  private readonly origin: string;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly idleTimeoutMs: number;

  constructor(readonly options: HubOptions) {
    this.hubUrl = (options.hubUrl ?? DEFAULTS.hubUrl).replace(/\/+$/, '');
    let origin: string;
    try {
      origin = new URL(this.hubUrl).origin;
    } catch {
      throw new InvalidParameterError('hubUrl', 'an http(s) URL such as https://huggingface.co', options.hubUrl, 'malformed');
    }
    this.origin = origin;
    this.retries = Math.max(1, options.retries ?? DEFAULTS.hubRetries);
    this.retryDelayMs = options.retryDelayMs ?? DEFAULTS.hubRetryDelayMs;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULTS.hubIdleTimeoutMs;
  }

  /** fetch, with the token only for the Hub's own origin. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.options.token && new URL(url).origin === this.origin) headers.set('Authorization', `Bearer ${this.options.token}`);
    const f = this.options.fetch ?? globalThis.fetch;
    try {
      return await f(url, { ...init, headers });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new Retryable(`network error: ${(error as Error).message}`);
    }
  }

  /** Runs `attempt` until it succeeds, retrying `Retryable` failures with back-off. */
  async withRetries<T>(what: string, url: string, attempt: () => Promise<T>): Promise<T> {
    let last: Retryable | undefined;
    for (let i = 0; i < this.retries; i++) {
      if (i > 0) await sleep(last?.retryAfterMs ?? this.retryDelayMs * 2 ** (i - 1));
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof Retryable)) throw error;
        last = error;
      }
    }
    if (last?.retryAfterMs !== undefined && /429/.test(last.message)) {
      throw new HubError(`the Hub keeps answering "too many requests" for ${what} (${this.retries} attempts): wait a few minutes and run again; the conversion resumes`, 'rate-limited', url, 429);
    }
    throw new DownloadError(`${what} failed after ${this.retries} attempts (${last?.message}); check the connection and run again: the conversion resumes where it stopped`, url);
  }

  /** Throws the typed error for a failed response (retryable statuses as `Retryable`). */
  fail(response: Response, repo: string, what: string): never {
    const status = response.status;
    const code = response.headers.get('x-error-code');
    const message = response.headers.get('x-error-message');
    const url = response.url;
    if (status === 429 || status === 408 || status >= 500) {
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new Retryable(`HTTP ${status}`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : status === 429 ? this.retryDelayMs : undefined);
    }
    const page = `${this.hubUrl}/${repo}`;
    const tokenHint = this.options.token ? '' : ' If it is private or gated, give an access token (--hf-token or the HF_TOKEN variable; `token` in code).';
    if (code === 'GatedRepo') {
      if (this.options.token) throw new HubError(`${PREFIX}${repo} is gated and your token has no access to it: open ${page}, accept its conditions with the account of the token, then run again.`, 'gated', url, status);
      throw new HubError(`${PREFIX}${repo} is gated: open ${page}, accept its conditions, and give an access token of that account (--hf-token or HF_TOKEN).`, 'gated', url, status);
    }
    if (code === 'RevisionNotFound') throw new HubError(`${what}: revision not found in ${PREFIX}${repo}; check the @revision (a branch, tag or commit).`, 'revision-not-found', url, status);
    if (code === 'EntryNotFound') throw new HubError(`${what}: no such file in ${PREFIX}${repo}; check the path.`, 'file-not-found', url, status);
    if (status === 401 && message === 'Invalid credentials in Authorization header') {
      throw new HubError(`the Hub rejected the access token (${what}): create a new one at ${this.hubUrl}/settings/tokens.`, 'token-rejected', url, status);
    }
    if (code === 'RepoNotFound' || status === 401 || status === 404) throw new HubError(`${PREFIX}${repo} was not found on ${this.hubUrl} (${what}): check the owner/name.${tokenHint}`, 'repo-not-found', url, status);
    if (status === 403) throw new HubError(`the Hub refused ${what} (403${message ? `: ${message}` : ''}): check that your token may read ${PREFIX}${repo}.`, 'forbidden', url, status);
    throw new DownloadError(`${what}: unexpected HTTP ${status} from the Hub`, url, status);
  }
}

/** The repository's file list (every page). */
async function listFiles(client: HubClient, repo: string, revision: string): Promise<Map<string, HubEntry>> {
  const entries = new Map<string, HubEntry>();
  let url: string | undefined = `${client.hubUrl}/api/models/${repo}/tree/${encodeURIComponent(revision)}?recursive=true`;
  const what = `listing the files of ${hubLabel(repo, revision, '')}`;
  while (url) {
    const pageUrl: string = url;
    const page = await client.withRetries(what, pageUrl, async () => {
      const response = await client.fetch(pageUrl, { headers: { Accept: 'application/json' } });
      if (!response.ok) client.fail(response, repo, what);
      let items: unknown;
      try {
        items = await response.json();
      } catch (error) {
        throw new Retryable(`the file list is not JSON (${(error as Error).message})`);
      }
      return { items, link: response.headers.get('link') };
    });
    if (!Array.isArray(page.items)) throw new DownloadError(`${what}: the Hub answered something other than a file list`, pageUrl);
    for (const item of page.items as { type?: string; path?: string; size?: number; oid?: string; lfs?: { oid?: string; size?: number } }[]) {
      if (item.type !== 'file' || typeof item.path !== 'string' || typeof item.size !== 'number') continue;
      entries.set(item.path, { path: item.path, size: item.lfs?.size ?? item.size, oid: item.oid ?? '', sha256: item.lfs?.oid });
    }
    url = /<([^>]+)>;\s*rel="next"/.exec(page.link ?? '')?.[1];
  }
  return entries;
}

/** sha256 (LFS) or git blob sha1 of whole content, compared with the listing. */
async function verifyWhole(entry: HubEntry, bytes: Uint8Array, label: string): Promise<void> {
  if (bytes.byteLength !== entry.size) throw new IntegrityError(`${label}: downloaded ${bytes.byteLength} bytes, the Hub lists ${entry.size}; run again`, label);
  if (entry.sha256) {
    const hash = await createIncrementalSha256();
    hash.update(bytes);
    if (hash.digestHex() !== entry.sha256) throw new IntegrityError(`${label}: the downloaded bytes do not match the Hub's sha256 (corrupted download, or the file changed); run again`, label);
  } else if (/^[0-9a-f]{40}$/.test(entry.oid)) {
    const prefix = new TextEncoder().encode(`blob ${bytes.byteLength}\0`);
    const all = new Uint8Array(prefix.length + bytes.byteLength);
    all.set(prefix);
    all.set(bytes, prefix.length);
    if (bytesToHex(sha1(all)) !== entry.oid) throw new IntegrityError(`${label}: the downloaded bytes do not match the Hub's git hash (corrupted download, or the file changed); run again`, label);
  }
}

/**
 * Random access to one file of a repository. Each read is one ranged GET (resumed from
 * the last byte received when the connection drops); the response must be 206 with the
 * requested `Content-Range` of a file of the listed size, and every response must carry
 * the same ETag. A file read front to back is checked against the Hub's sha256 at its end.
 */
function openHubFile(client: HubClient, repo: string, revision: string, entry: HubEntry): RandomAccessFile {
  const label = hubLabel(repo, revision, entry.path);
  const resolveUrl = `${client.hubUrl}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(entry.path)}`;
  let directUrl: string | undefined; // the CDN URL the Hub redirected to, reused until it fails
  let etag: string | undefined;
  let closed = false;
  // In-order hashing: bytes are hashed while reads continue where the last one ended.
  let hashedTo = 0;
  let hash: IncrementalSha256 | undefined;

  const readOnce = async (start: number, out: Uint8Array, received: { bytes: number }, tensor?: string) => {
    const from = start + received.bytes;
    const to = start + out.length - 1;
    const url = directUrl ?? resolveUrl;
    const controller = new AbortController();
    // no-store: a browser's HTTP cache would keep a second copy of every range (gigabytes),
    // and it answers a range it partly holds with extra network requests of its own.
    const response = await client.fetch(url, { headers: { Range: `bytes=${from}-${to}` }, signal: controller.signal, cache: 'no-store' });
    if (!response.ok) {
      if (directUrl && [401, 403, 404, 410].includes(response.status)) {
        directUrl = undefined; // an expired signed URL: resolve again
        throw new Retryable(`HTTP ${response.status} from the file host`);
      }
      client.fail(response, repo, `reading ${label}`);
    }
    if (response.url && response.url !== resolveUrl) directUrl = response.url;
    const seenEtag = normaliseEtag(response.headers.get('etag'));
    if (seenEtag) {
      if (etag && seenEtag !== etag) {
        throw new IntegrityError(`${label} changed on the Hub while it was being read (ETag ${etag} then ${seenEtag}); run again`, label);
      }
      if (entry.sha256 && /^[0-9a-f]{64}$/.test(seenEtag) && seenEtag !== entry.sha256) {
        throw new IntegrityError(`${label}: the Hub served content with sha256 ${seenEtag}, its listing says ${entry.sha256}; run again`, label);
      }
      etag ??= seenEtag;
    }
    if (response.status !== 206) {
      if (!(response.status === 200 && from === 0 && to === entry.size - 1)) {
        await response.body?.cancel().catch(() => undefined);
        throw new DownloadError(`${label}: the file host ignored the Range request (HTTP ${response.status} instead of 206); it cannot be streamed from there`, url, response.status);
      }
    } else {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== from || Number(range[2]) !== to) {
        await response.body?.cancel().catch(() => undefined);
        throw new Retryable(`Content-Range ${response.headers.get('content-range')} does not answer bytes=${from}-${to}`);
      }
      if (range[3] !== '*' && Number(range[3]) !== entry.size) {
        await response.body?.cancel().catch(() => undefined);
        throw new IntegrityError(`${label} has ${range[3]} bytes on the file host but ${entry.size} in the Hub's listing (truncated or replaced); run again later`, label);
      }
    }
    const reader = response.body!.getReader();
    try {
      for (;;) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const idle = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Retryable(`no data for ${client.idleTimeoutMs} ms`)), client.idleTimeoutMs);
        });
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await Promise.race([reader.read(), idle]);
        } catch (error) {
          controller.abort();
          if (error instanceof Retryable) throw error;
          throw new Retryable(`the connection dropped (${(error as Error).message})`);
        } finally {
          clearTimeout(timer);
        }
        if (chunk.done) break;
        const room = out.length - received.bytes;
        const take = Math.min(room, chunk.value.byteLength);
        out.set(chunk.value.subarray(0, take), received.bytes);
        received.bytes += take;
        client.options.onBytes?.(label, take);
        if (take < chunk.value.byteLength) {
          controller.abort();
          throw new Retryable(`the host sent more than the ${out.length} bytes asked for`);
        }
      }
    } finally {
      reader.releaseLock();
    }
    if (received.bytes < out.length) throw new Retryable(`the connection closed after ${received.bytes} of ${out.length} bytes${tensor ? ` of tensor "${tensor}"` : ''}`);
  };

  return {
    label,
    size: entry.size,
    async read(offset, length, tensor) {
      if (closed) throw new CheckpointError(`cannot read ${label}: it was closed`, label, tensor);
      if (offset < 0 || offset + length > entry.size) {
        throw new CheckpointError(`${label} is truncated: wanted bytes ${offset}..${offset + length}${tensor ? ` of tensor "${tensor}"` : ''} but the file ends at ${entry.size}`, label, tensor);
      }
      const out = new Uint8Array(length);
      if (length === 0) return out;
      const received = { bytes: 0 };
      await client.withRetries(`downloading ${label}`, resolveUrl, () => readOnce(offset, out, received, tensor));
      if (offset === hashedTo && entry.sha256) {
        hash ??= await createIncrementalSha256();
        hash.update(out);
        hashedTo += length;
        if (hashedTo === entry.size && hash.digestHex() !== entry.sha256) {
          throw new IntegrityError(`${label}: the downloaded bytes do not match the Hub's sha256 (corrupted download, or the file changed); run again`, label);
        }
      }
      return out;
    },
    async close() {
      closed = true;
    },
  };
}

/**
 * Opens a repository at a revision: lists its files (one request per page of the
 * listing) and gives access to them.
 * @throws HubError when the repository or revision does not exist, is gated without a
 *   usable token, or the token is rejected; DownloadError when the Hub cannot be reached
 */
export async function openHubRepository(repo: string, revision: string, options: HubOptions = {}): Promise<HubRepository> {
  const client = new HubClient(options);
  const entries = await listFiles(client, repo, revision);
  const labelOf = (path: string) => hubLabel(repo, revision, path);
  const entryOf = (path: string): HubEntry => {
    const entry = entries.get(path);
    if (!entry) throw new CheckpointError(`missing file ${labelOf(path)}`, labelOf(path), undefined, 'missing-file');
    return entry;
  };
  return {
    repo,
    revision,
    entries,
    name: repo.split('/')[1],
    labelOf,
    exists: async (path) => entries.has(path),
    isFolder: async (path) => path === '' ? entries.size > 0 : [...entries.keys()].some((p) => p.startsWith(`${path}/`)),
    async readText(path) {
      const entry = entryOf(path);
      const file = openHubFile(client, repo, revision, { ...entry, sha256: undefined });
      const bytes = entry.size === 0 ? new Uint8Array(0) : await file.read(0, entry.size);
      await verifyWhole(entry, bytes, labelOf(path));
      return new TextDecoder().decode(bytes);
    },
    open: async (path) => openHubFile(client, repo, revision, entryOf(path)),
    fingerprint: async (path) => {
      const entry = entries.get(path);
      return entry ? `${entry.size}:${entry.sha256 ?? entry.oid}` : 'missing';
    },
  };
}

/** What the Hub says about a repository (its model card's metadata). */
export interface HubModelInfo {
  repo: string;
  /** The licence its card declares (`apache-2.0`, `other`, …), when it declares one. */
  license?: string;
  /** Whether access needs accepting conditions (and a token). */
  gated: boolean;
}

/**
 * Reads a repository's licence and gating from `{hub}/api/models/{repo}` (one small
 * request; nothing of the model itself).
 * @throws HubError as `openHubRepository`
 */
export async function readHubModelInfo(repo: string, options: HubOptions = {}): Promise<HubModelInfo> {
  const client = new HubClient(options);
  const url = `${client.hubUrl}/api/models/${repo}`;
  const what = `reading the model card of ${hubLabel(repo, 'main', '')}`;
  const info = await client.withRetries(what, url, async () => {
    const response = await client.fetch(url, { headers: { Accept: 'application/json' } });
    if (!response.ok) client.fail(response, repo, what);
    try {
      return (await response.json()) as { cardData?: { license?: unknown }; tags?: unknown; gated?: unknown };
    } catch (error) {
      throw new Retryable(`the model card is not JSON (${(error as Error).message})`);
    }
  });
  const tag = Array.isArray(info.tags) ? info.tags.find((t): t is string => typeof t === 'string' && t.startsWith('license:')) : undefined;
  const license = typeof info.cardData?.license === 'string' ? info.cardData.license : tag?.slice('license:'.length);
  return { repo, license, gated: Boolean(info.gated) };
}

/**
 * The file an `hf:owner/name[@revision]/path` reference names, for a component override.
 * @throws InvalidParameterError when the reference has no path; HubError as `openHubRepository`;
 *   CheckpointError listing the repository's tensor files when the path is not one of its files
 */
export async function openHubSourceFile(reference: string, field: string, options: HubOptions = {}): Promise<SourceFile> {
  const ref = parseHubReference(reference, field);
  if (!ref.path) throw new InvalidParameterError(field, 'a file in the repository: hf:owner/name[@revision]/path/to/file', reference, 'malformed');
  const files = await openHubRepository(ref.repo, ref.revision, options);
  if (!files.entries.has(ref.path)) {
    const candidates = [...files.entries.keys()].filter((p) => /\.(gguf|safetensors|sft)$/.test(p));
    throw new CheckpointError(`${files.labelOf(ref.path)} is not a file of ${hubLabel(ref.repo, ref.revision, '')}${candidates.length ? `; its weight files are: ${candidates.join(', ')}` : ''}`, files.labelOf(ref.path), undefined, 'missing-file');
  }
  return { files, path: ref.path };
}
