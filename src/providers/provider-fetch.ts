/**
 * The HTTP layer under a provider call: redirects followed by hand while a request carries
 * a credential, and an honest account of why a request failed.
 *
 * Redirects. `fetch` follows redirects by itself and keeps custom headers (`x-key`) on the
 * way — to any host. Browsers strip only `Authorization`, and only across origins; Node's
 * fetch strips it too but keeps every other header. So a request that carries a
 * credential is sent with `redirect: 'manual'`:
 * - In Node (and Deno, Bun) the 3xx answer is readable: a redirect within the same origin
 *   (scheme, host and port) is followed by hand with the key, up to {@link MAX_REDIRECTS};
 *   a redirect to another origin, or a loop, is refused with a typed error — the key is
 *   never sent there, and the request is not sent there without it either (its body is
 *   the user's prompt).
 * - In a browser the answer is an `opaqueredirect`: status 0, no `Location`. The page
 *   cannot see where it points, so it cannot check the target; it is refused with a typed
 *   error that says so.
 * Requests without a credential (result images, calls through a proxy that adds the key)
 * follow redirects as usual.
 *
 * Failures. A browser reports every network failure as the same `TypeError` ("Failed to
 * fetch"): a missing CORS header, a refused preflight, a redirect loop, a reset connection
 * and a dead network look alike. {@link diagnoseBrowserFailure} tells them apart with up to
 * three small GET requests to the same URL, without the key and without a body. Node
 * reports the cause (`error.cause.code`), read by {@link classifyNodeFailure}.
 */

/** Redirects followed by hand for one request that carries a key (Fetch's own limit is 20). */
export const MAX_REDIRECTS = 10;

/** How long one diagnostic request may take, ms. */
const PROBE_TIMEOUT_MS = 5_000;

/** HTTP redirect statuses (`fetch` follows these). */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Why a redirect of a request that carries a key was not followed. */
export type RedirectRefusal =
  /** The target is another origin: the key stays home. */
  | { kind: 'cross-origin'; from: string; to: string; status: number }
  /** A browser hid the redirect (opaqueredirect): its target cannot be checked. */
  | { kind: 'opaque'; from: string }
  /** More than MAX_REDIRECTS redirects in a row. */
  | { kind: 'loop'; from: string; to: string; hops: number; status: number };

/** Thrown by {@link fetchKeepingKeyHome} when it does not follow a redirect. */
export class RedirectRefusedError extends Error {
  constructor(readonly refusal: RedirectRefusal) {
    super(`redirect refused (${refusal.kind})`);
    this.name = 'RedirectRefusedError';
  }
}

/** What one request sends. */
export interface ProviderFetchInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/**
 * `fetch` that never carries a credential header across a redirect: requests with one of
 * `credentialHeaders` set are sent with `redirect: 'manual'` and followed by hand within
 * their origin only (see the module comment); others follow redirects as `fetch` does.
 * @param credentialHeaders lower-case header names that carry credentials
 * @throws RedirectRefusedError when a redirect is not followed
 * @throws whatever `fetch` throws (network failure, abort)
 */
export async function fetchKeepingKeyHome(url: string, init: ProviderFetchInit, credentialHeaders: readonly string[]): Promise<Response> {
  const keyed = Object.keys(init.headers).some((name) => credentialHeaders.includes(name.toLowerCase()));
  if (!keyed) return fetch(url, { method: init.method, headers: init.headers, body: init.body, signal: init.signal });

  let current = url;
  let { method, body } = init;
  let headers = { ...init.headers };
  for (let hops = 0; ; hops++) {
    const response = await fetch(current, { method, headers, body, signal: init.signal, redirect: 'manual' });
    if (response.type === 'opaqueredirect') throw new RedirectRefusedError({ kind: 'opaque', from: current });
    const location = response.headers.get('location');
    if (!REDIRECT_STATUSES.has(response.status) || location === null) return response;
    await response.body?.cancel().catch(() => undefined);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      return response; // an unreadable Location: the caller reports the 3xx status
    }
    if (next.origin !== new URL(current).origin) {
      throw new RedirectRefusedError({ kind: 'cross-origin', from: current, to: next.href, status: response.status });
    }
    if (hops + 1 > MAX_REDIRECTS) throw new RedirectRefusedError({ kind: 'loop', from: url, to: next.href, hops: hops + 1, status: response.status });
    // As browsers do: 303 (and 301/302 after a POST) continue as a GET without a body.
    if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-type'));
    }
    current = next.href;
  }
}

/** What made a request fail, as far as the client can tell. */
export type FailureKind =
  /** It redirects and the redirect could not be followed (a loop, or a target without CORS). */
  | 'redirect'
  /** The server answers, but without CORS headers for this page. */
  | 'no-cors'
  /** The server answers simple requests, but its CORS preflight refuses this request's headers or method. */
  | 'preflight'
  /** The server is reachable and allows the page; the connection was reset or closed mid-request. */
  | 'dropped'
  /** No connection: refused, reset at once, unknown host, or no network. */
  | 'unreachable'
  /**
   * No CORS headers, or no connection: a cross-origin isolated page (COEP require-corp)
   * cannot make the `no-cors` check (it is refused without Cross-Origin-Resource-Policy).
   */
  | 'no-cors-or-unreachable';

/**
 * Finds out in a browser why a request to `url` failed with a bare TypeError, with up to
 * three GET requests to the same URL (no key, no body, no cookies, 5 s each):
 * 1. a simple CORS request with `redirect: 'manual'`: an `opaqueredirect` → 'redirect';
 *    a readable answer → CORS works for simple requests, go to 2; a failure → go to 3;
 * 2. the same with the original request's non-safelisted header names (credential values
 *    replaced): a failure → 'preflight', else → 'dropped';
 * 3. a `no-cors` request: an (opaque) answer → 'no-cors', a failure → 'unreachable' (on a
 *    cross-origin isolated page, where COEP refuses such answers without
 *    Cross-Origin-Resource-Policy, → 'no-cors-or-unreachable').
 * @param headerNames names of the headers the failed request sent
 * @param signal the call's signal; when it aborts the probes stop ('unreachable')
 */
export async function diagnoseBrowserFailure(url: string, headerNames: readonly string[], signal?: AbortSignal): Promise<FailureKind> {
  const simple = await probe(url, { redirect: 'manual' }, signal);
  if (simple === 'opaqueredirect') return 'redirect';
  if (simple === 'answered') {
    const headers: Record<string, string> = {};
    for (const name of headerNames) {
      const lower = name.toLowerCase();
      if (lower === 'accept' || lower === 'accept-language' || lower === 'content-language') continue;
      headers[lower] = lower === 'content-type' ? 'application/json' : 'flux-webgpu-cors-check';
    }
    if (Object.keys(headers).length === 0) return 'dropped';
    const preflighted = await probe(url, { redirect: 'manual', headers }, signal);
    return preflighted === 'failed' ? 'preflight' : 'dropped';
  }
  const opaque = await probe(url, { mode: 'no-cors' }, signal);
  if (opaque !== 'failed') return 'no-cors';
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated ? 'no-cors-or-unreachable' : 'unreachable';
}

/** One diagnostic GET: how it ended. */
async function probe(url: string, init: RequestInit, signal?: AbortSignal): Promise<'answered' | 'opaqueredirect' | 'failed'> {
  if (signal?.aborted) return 'failed';
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS);
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const response = await fetch(url, { ...init, method: 'GET', credentials: 'omit', cache: 'no-store', signal: controller.signal });
    await response.body?.cancel().catch(() => undefined);
    return response.type === 'opaqueredirect' ? 'opaqueredirect' : 'answered';
  } catch {
    return 'failed';
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * What a rejected `fetch` in Node (undici) says about the failure, from `error.cause`:
 * a redirect loop, a connection reset or closed mid-request, or no connection at all.
 * @returns the kind and the cause's own words (e.g. "ECONNREFUSED", "other side closed")
 */
export function classifyNodeFailure(error: unknown): { kind: FailureKind; cause: string } {
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  const code = cause?.code ?? (error as { code?: string } | null)?.code ?? '';
  const message = cause?.message ?? (error instanceof Error ? error.message : String(error));
  const words = [code, message].filter(Boolean).join(': ');
  if (/redirect count exceeded|redirect loop/i.test(message)) return { kind: 'redirect', cause: words };
  if (/^(ECONNRESET|EPIPE|UND_ERR_SOCKET|UND_ERR_CLOSED)$/.test(code) || /other side closed|socket hang up|terminated/i.test(message)) return { kind: 'dropped', cause: words };
  return { kind: 'unreachable', cause: words };
}
