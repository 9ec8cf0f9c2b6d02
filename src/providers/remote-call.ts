/**
 * One hosted generation's HTTP life: the caller's AbortSignal and an overall deadline
 * linked into one signal; bounded retries of 429 (honouring `Retry-After`, seconds or an
 * HTTP date) and 5xx (exponential backoff); every failure turned into a typed error that
 * says what to do; the API key attached only to hosts allowed to see it, and never carried
 * across a redirect to another origin (provider-fetch.ts); progress events.
 *
 * Secrets: this is the one place where provider answers become text. Parsed answers,
 * error bodies, progress events and every error leaving a call pass through the call's
 * {@link SecretRedactor}, so the key (and the value of every credential header sent) never
 * reaches an error message, an event, the DOM or a log, even when a provider or a proxy
 * echoes it.
 * Browser-safe: global `fetch`, `AbortController`, `setTimeout` only.
 */
import {
  AbortedError,
  FluxError,
  ProviderAuthError,
  ProviderCorsError,
  ProviderCreditsError,
  ProviderError,
  ProviderNetworkError,
  ProviderProtocolError,
  ProviderRedirectError,
  ProviderRequestError,
  ProviderServerError,
  ProviderTaskNotFoundError,
  ProviderTimeoutError,
  RateLimitedError,
  RequestModeratedError,
  ResultExpiredError,
} from '../errors.ts';
import type { AnyProviderConfig, ProviderInfo } from './config.ts';
import { PROVIDER_DEFAULTS } from './config.ts';
import { sniffImage, type ImageInfo } from './image-bytes.ts';
import type { RemoteProgressEvent, RemoteStatus } from '../progress.ts';
import type { ProviderGenerateOptions } from './image-engine.ts';
import { classifyNodeFailure, diagnoseBrowserFailure, fetchKeepingKeyHome, RedirectRefusedError, type FailureKind, type RedirectRefusal } from './provider-fetch.ts';
import { isCredentialHeader, SecretRedactor } from './redact.ts';

/** Settings of one provider instance, resolved from its config and PROVIDER_INFO. */
export interface ProviderSettings {
  id: string;
  label: string;
  info: ProviderInfo;
  /** API root without a trailing slash. */
  baseUrl: string;
  /** Whether `baseUrl` was configured (a proxy, or another endpoint) rather than the default. */
  customBaseUrl: boolean;
  /** The auth header to send, when a key is configured. */
  auth?: { name: string; value: string };
  model: string;
  strict: boolean;
  timeoutMs: number;
  pollIntervalMs: number;
  maxRetries: number;
  retryBaseMs: number;
  maxRetryAfterMs: number;
}

/** Resolves a provider's settings from its config. */
export function resolveSettings(config: AnyProviderConfig, info: ProviderInfo, auth: (key: string) => { name: string; value: string }): ProviderSettings {
  const baseUrl = (config.baseUrl ?? info.defaultBaseUrl ?? '').replace(/\/+$/, '');
  const settings: ProviderSettings = {
    id: config.id ?? info.kind,
    label: config.label ?? info.label,
    info,
    baseUrl,
    customBaseUrl: config.baseUrl !== undefined,
    model: config.model ?? info.defaultModel,
    strict: config.strict ?? false,
    timeoutMs: config.timeoutMs ?? PROVIDER_DEFAULTS.timeoutMs,
    pollIntervalMs: config.pollIntervalMs ?? info.pollIntervalMs,
    maxRetries: config.maxRetries ?? PROVIDER_DEFAULTS.maxRetries,
    retryBaseMs: config.retryBaseMs ?? PROVIDER_DEFAULTS.retryBaseMs,
    maxRetryAfterMs: config.maxRetryAfterMs ?? PROVIDER_DEFAULTS.maxRetryAfterMs,
  };
  // Not enumerable: logging or serializing a provider's settings does not print the key.
  if (config.apiKey) Object.defineProperty(settings, 'auth', { value: auth(config.apiKey), enumerable: false });
  return settings;
}

/** Whether this code runs in a page or a worker (where fetch is subject to CORS). */
export function isBrowserContext(): boolean {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.window !== 'undefined' && typeof g.document !== 'undefined') return true;
  return typeof g.WorkerGlobalScope !== 'undefined' && typeof g.importScripts === 'function';
}

/**
 * Milliseconds a `Retry-After` value asks for: delay-seconds (fractions accepted) or an
 * HTTP date; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number.parseFloat(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Whether `url` may receive the API key: `baseUrl`'s own host name (any port: a proxy or
 * a provider may poll on another port), or over https one of the provider's own hosts
 * (`keyHosts`, subdomains included). Never result-image URLs: those are fetched without it.
 */
export function mayReceiveKey(url: string, baseUrl: string, keyHosts: readonly string[]): boolean {
  let target: URL;
  let base: URL;
  try {
    target = new URL(url);
    base = new URL(baseUrl);
  } catch {
    return false;
  }
  if (target.hostname === base.hostname && target.protocol === base.protocol) return true;
  if (target.protocol !== 'https:') return false;
  return keyHosts.some((host) => target.hostname === host || target.hostname.endsWith(`.${host}`));
}

/** Milliseconds from `Retry-After-Ms` (some gateways) or `Retry-After`. */
export function retryAfterFromHeaders(headers: Headers, now = Date.now()): number | undefined {
  const ms = Number(headers.get('retry-after-ms') ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  return parseRetryAfter(headers.get('retry-after'), now);
}

/** Origin and path of a URL, without its query (signed URLs carry secrets there). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol === 'data:') return 'a data: URL';
    return `${u.origin}${u.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

/** What a request is for: it decides the key, the error mapping and the retries. */
export type CallPhase = 'submit' | 'poll' | 'result' | 'image' | 'cancel';

/** One JSON answer. */
export interface JsonResponse {
  status: number;
  data: unknown;
  headers: Headers;
}

/** A fetched result image. */
export interface FetchedImage {
  blob: Blob;
  info: ImageInfo;
}

/** The state of one `generate()` call: signal, deadline, retries, progress. */
export class RemoteCall {
  readonly startedAt = Date.now();
  /** Aborted when the caller aborts or the deadline passes. */
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  private timedOut = false;
  private readonly unlink: () => void;
  /** Credential values sent in this call (the key, credential headers): never shown. */
  private readonly secrets = new Set<string>();
  private redactorInstance?: SecretRedactor;

  constructor(
    readonly settings: ProviderSettings,
    private readonly options: ProviderGenerateOptions = {},
  ) {
    this.signal = this.controller.signal;
    const caller = options.signal;
    const onAbort = () => this.controller.abort();
    caller?.addEventListener('abort', onAbort, { once: true });
    this.unlink = () => caller?.removeEventListener('abort', onAbort);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, settings.timeoutMs);
    if (caller?.aborted) this.controller.abort();
    if (settings.auth) this.secrets.add(settings.auth.value);
  }

  /** Redacts the key and every credential header value this call sent (see redact.ts). */
  get redactor(): SecretRedactor {
    this.redactorInstance ??= new SecretRedactor([...this.secrets]);
    return this.redactorInstance;
  }

  /** Records the credential header values of a request before it is sent. */
  private noteSecrets(headers: Record<string, string>): void {
    for (const [name, value] of Object.entries(headers)) {
      if (!isCredentialHeader(name) || this.secrets.has(value)) continue;
      this.secrets.add(value);
      this.redactorInstance = undefined;
    }
  }

  /** Stops the deadline timer and unlinks the caller's signal. */
  dispose(): void {
    clearTimeout(this.timer);
    this.unlink();
  }

  /** Milliseconds since the call started. */
  elapsedMs(): number {
    return Date.now() - this.startedAt;
  }

  /** Emits a remote progress event (a throwing callback is ignored). */
  progress(status: RemoteStatus, extra: Omit<Partial<RemoteProgressEvent>, 'stage' | 'status'> = {}): void {
    this.emit({ stage: 'remote', provider: this.settings.id, status, elapsedMs: this.elapsedMs(), ...extra });
  }

  /** Emits `{stage: 'done'}`. */
  done(): void {
    this.emit({ stage: 'done' });
  }

  private emit(event: Parameters<NonNullable<ProviderGenerateOptions['onProgress']>>[0]): void {
    // Event texts come from the provider's answers (statuses, details): redact them.
    if (event.stage === 'remote' && event.detail !== undefined) event = { ...event, detail: this.redactor.text(event.detail) };
    try {
      this.options.onProgress?.(event);
    } catch {
      // A progress callback must not break a generation.
    }
  }

  /** The typed error for an aborted signal: the caller's cancel, or the deadline. */
  abortError(): Error {
    if (this.options.signal?.aborted || !this.timedOut) return new AbortedError(`The ${this.settings.label} request was cancelled.`);
    return new ProviderTimeoutError(
      `${this.settings.label} did not finish within ${formatSeconds(this.settings.timeoutMs)}; the provider may be busy or unreachable. Try again, raise timeoutMs, or choose another provider.`,
      this.settings.id,
    );
  }

  /** Throws AbortedError / ProviderTimeoutError when the call is over. */
  throwIfAborted(): void {
    if (this.signal.aborted) throw this.abortError();
  }

  /** Waits `ms`, or throws as soon as the call is aborted. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.signal.aborted) return reject(this.abortError());
      const onAbort = () => {
        clearTimeout(timer);
        reject(this.abortError());
      };
      const timer = setTimeout(() => {
        this.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Turns anything thrown during the call into a typed error (a bare abort into
   * AbortedError / ProviderTimeoutError), with every secret redacted from its message,
   * stack and fields.
   */
  typed(error: unknown): Error {
    if (error instanceof FluxError) return this.redactor.error(error);
    if (this.signal.aborted) return this.abortError();
    if (error instanceof Error) return this.redactor.error(error);
    return new ProviderError(`${this.settings.label} failed: ${this.redactor.text(String(error))}`, this.settings.id);
  }

  /** Aborts the call's own signal (e.g. sibling tasks after one failed); the caller's signal is untouched. */
  abortInternally(): void {
    this.controller.abort();
  }

  /** Headers for `url`: JSON, plus the key where `url` may receive it. */
  headersFor(url: string, extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json', ...extra };
    const { auth, baseUrl, info } = this.settings;
    if (auth && mayReceiveKey(url, baseUrl, info.keyHosts)) headers[auth.name] = auth.value;
    return headers;
  }

  /**
   * Sends a JSON request (body JSON-encoded when given) with the key where allowed, and
   * returns the parsed answer of a 2xx status (others become typed errors, after the
   * bounded retries of 429 and 5xx).
   */
  async json(method: string, url: string, phase: CallPhase, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<JsonResponse> {
    const headers = this.headersFor(url, extraHeaders);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.send(method, url, phase, { headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw await this.fetchFailure(error, url, phase, headers);
    }
    let data: unknown;
    try {
      // Whatever a provider code reads from the answer is free of secrets from here on.
      data = text === '' ? undefined : this.redactor.json(JSON.parse(text));
    } catch {
      throw new ProviderProtocolError(
        `${this.settings.label} answered ${describeUrl(url)} with something that is not JSON (HTTP ${response.status}, content-type ${response.headers.get('content-type') ?? 'none'}). Check baseUrl${this.settings.customBaseUrl ? ' and the proxy' : ''}.`,
        this.settings.id,
        'body',
        response.status,
      );
    }
    return { status: response.status, data, headers: response.headers };
  }

  /**
   * Fetches one result image at once (signed URLs expire), without the key, and types it
   * from its bytes.
   * @throws ResultExpiredError on 403/404/410
   */
  async image(url: string, index: number, count: number): Promise<FetchedImage> {
    this.progress('downloading', { image: index, images: count });
    const response = await this.send('GET', url, 'image', { headers: {} });
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw await this.fetchFailure(error, url, 'image', {});
    }
    return this.imageFromBytes(bytes, index, response.headers.get('content-type'));
  }

  /** Types image bytes (e.g. decoded base64). */
  imageFromBytes(bytes: Uint8Array, index: number, contentType?: string | null): FetchedImage {
    const info = sniffImage(bytes);
    if (!info) {
      throw new ProviderProtocolError(
        `${this.settings.label}'s result image ${index + 1} is not a PNG, JPEG or WebP image (${bytes.length} bytes${contentType ? `, content-type ${contentType}` : ''}).`,
        this.settings.id,
        'image',
      );
    }
    return { blob: new Blob([bytes as Uint8Array<ArrayBuffer>], { type: info.mime }), info };
  }

  /**
   * Best-effort cancel of a remote task after an abort or a timeout (fal, Replicate), so
   * that it stops costing money. Not awaited by callers; never throws.
   */
  cancelRemote(method: string, url: string | undefined): void {
    if (!url) return;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5_000);
    const headers = this.headersFor(url);
    fetchKeepingKeyHome(url, { method, headers, signal: controller.signal }, this.credentialHeaderNames(headers))
      .then((response) => response.body?.cancel())
      .catch(() => undefined)
      .finally(() => clearTimeout(timer));
  }

  /** The names of `headers` that carry credentials (the auth header, and any that look like one). */
  private credentialHeaderNames(headers: Record<string, string>): string[] {
    const names = Object.keys(headers).filter(isCredentialHeader).map((name) => name.toLowerCase());
    if (this.settings.auth) names.push(this.settings.auth.name.toLowerCase());
    return names;
  }

  /** fetch with the bounded retries of 429 and 5xx, then status → typed error. */
  private async send(method: string, url: string, phase: CallPhase, init: { headers: Record<string, string>; body?: string }): Promise<Response> {
    const { maxRetries, retryBaseMs, maxRetryAfterMs, timeoutMs } = this.settings;
    this.noteSecrets(init.headers);
    for (let attempt = 0; ; attempt++) {
      this.throwIfAborted();
      let response: Response;
      try {
        response = await fetchKeepingKeyHome(url, { method, headers: init.headers, body: init.body, signal: this.signal }, this.credentialHeaderNames(init.headers));
      } catch (error) {
        if (error instanceof RedirectRefusedError) throw this.redirectRefused(error.refusal);
        throw await this.fetchFailure(error, url, phase, init.headers);
      }
      if (response.ok) return response;

      const retryAfterMs = retryAfterFromHeaders(response.headers);
      const retryable = response.status === 429 || (response.status >= 500 && response.status !== 501 && response.status !== 505);
      if (!retryable) throw await this.statusFailure(response, url, phase);
      const detail = await readDetail(response, this.redactor);
      if (response.status === 429) {
        // A browser hides Retry-After from a cross-origin page unless the server exposes it.
        const hidden = retryAfterMs === undefined && response.type === 'cors';
        const wait = retryAfterMs ?? retryBaseMs * 2 ** attempt;
        if (attempt >= maxRetries || wait > maxRetryAfterMs || this.elapsedMs() + wait > timeoutMs) {
          throw this.rateLimited(detail, retryAfterMs ?? (attempt >= maxRetries ? undefined : wait), attempt, hidden);
        }
        const blind = hidden ? ', no Retry-After readable: backing off' : '';
        this.progress('waiting', { detail: `rate limited (HTTP 429${blind}), retrying in ${formatSeconds(wait)}` });
        await this.sleep(wait);
        continue;
      }
      if (attempt >= maxRetries) {
        throw new ProviderServerError(
          `${this.settings.label} failed with HTTP ${response.status}${detail ? ` (${detail})` : ''} ${attempt + 1} times in a row at ${describeUrl(url)}. The provider is having trouble: try again later or choose another provider.`,
          this.settings.id,
          response.status,
        );
      }
      const wait = Math.min(retryAfterMs ?? retryBaseMs * 2 ** attempt, maxRetryAfterMs);
      this.progress('waiting', { detail: `HTTP ${response.status} from ${this.settings.label}, retrying in ${formatSeconds(wait)}` });
      await this.sleep(wait);
    }
  }

  /**
   * @param hidden the answer came through CORS without a readable Retry-After: the browser
   *   hides it unless the server sends `Access-Control-Expose-Headers: Retry-After`
   */
  private rateLimited(detail: string, retryAfterMs: number | undefined, attempt: number, hidden = false): RateLimitedError {
    const when = retryAfterMs === undefined ? 'wait a minute and try again' : `try again in ${formatSeconds(retryAfterMs)} (after ${new Date(Date.now() + retryAfterMs).toISOString()})`;
    const tries = attempt === 0 ? '' : ` after ${attempt + 1} attempts`;
    const blind = hidden
      ? ` No Retry-After header was readable, so the retries waited blindly (exponential backoff): a browser shows Retry-After to a page on another origin only when the provider or proxy sends "Access-Control-Expose-Headers: Retry-After".`
      : '';
    return new RateLimitedError(
      `${this.settings.label} is rate limiting requests (HTTP 429${detail ? `: ${detail}` : ''})${tries}; ${this.settings.info.rateLimitHint}. ${capitalize(when)}.${blind}`,
      this.settings.id,
      retryAfterMs,
    );
  }

  /** A redirect that was not followed → ProviderRedirectError saying why and what to change. */
  private redirectRefused(refusal: RedirectRefusal): ProviderRedirectError {
    const { label, id } = this.settings;
    const from = describeUrl(refusal.from);
    switch (refusal.kind) {
      case 'cross-origin': {
        const to = describeUrl(refusal.to);
        return new ProviderRedirectError(
          `${label} at ${from} redirected the request (HTTP ${refusal.status}) to another origin, ${to}. The API key is never sent across a redirect to another host, so the redirect was not followed. If ${new URL(refusal.to).origin} is the provider's real endpoint, set baseUrl to it; otherwise check the proxy's configuration.`,
          id,
          refusal.status,
          to,
        );
      }
      case 'opaque':
        return new ProviderRedirectError(
          `${label} at ${from} answered with a redirect. A browser hides where a redirect points, so this page cannot check that the new address may receive the API key, and does not follow it. Set baseUrl to the address the provider or proxy redirects to (often the same URL with https:// or without a trailing slash), or make the proxy answer without redirecting.`,
          id,
        );
      case 'loop':
        return new ProviderRedirectError(
          `${label} at ${from} redirects in a loop (more than ${refusal.hops - 1} redirects in a row, the last to ${describeUrl(refusal.to)}). Check baseUrl and the proxy's redirect rules.`,
          id,
          refusal.status,
          describeUrl(refusal.to),
        );
    }
  }

  /**
   * A rejected fetch: abort, or a network failure told apart from a CORS block. In a
   * browser every failure is the same TypeError, so a few GET requests find out which it
   * was (see `diagnoseBrowserFailure`); in Node the error's cause says it.
   */
  private async fetchFailure(error: unknown, url: string, phase: CallPhase, headers: Record<string, string>): Promise<Error> {
    if (this.signal.aborted) return this.abortError();
    let kind: FailureKind;
    let cause = '';
    if (isBrowserContext()) kind = await diagnoseBrowserFailure(url, Object.keys(headers), this.signal);
    else ({ kind, cause } = classifyNodeFailure(error));
    if (this.signal.aborted) return this.abortError();
    return this.failureError(kind, url, phase, Object.keys(headers), cause);
  }

  /** The typed error and advice for one kind of failed request. */
  private failureError(kind: FailureKind, url: string, phase: CallPhase, headerNames: string[], cause: string): Error {
    const { label, id, info } = this.settings;
    const where = describeUrl(url);
    const what = phase === 'image' ? `the result image at ${where}` : `${label} at ${where}`;
    const because = cause ? ` (${cause})` : '';
    switch (kind) {
      case 'redirect':
        return new ProviderRedirectError(
          `${capitalize(what)} redirects in a way that cannot be followed${because}: a redirect loop, or a redirect to a host that sends no CORS headers. Check baseUrl (use the final address) and the proxy's redirect rules.`,
          id,
        );
      case 'no-cors': {
        const advice =
          info.cors === 'no'
            ? `${label} sends no CORS headers, so a web page can only reach it through a proxy on your own server: set baseUrl to that proxy.`
            : `The server answers, but sends no CORS headers for this page: route the calls through a proxy on your own server and set baseUrl to it (or make the proxy send Access-Control-Allow-Origin).`;
        return new ProviderCorsError(`The browser could not read ${what}. ${advice}`, id);
      }
      case 'preflight': {
        const names = headerNames.filter((name) => !/^accept$/i.test(name)).join(', ');
        return new ProviderCorsError(
          `The browser blocked the request to ${what}: the server answers this page, but its CORS preflight (OPTIONS) does not allow the request's method or headers. The server or proxy must answer OPTIONS with "Access-Control-Allow-Headers: ${names}" and allow the method in "Access-Control-Allow-Methods".`,
          id,
        );
      }
      case 'dropped':
        return new ProviderNetworkError(
          `The connection to ${what} was reset or closed before the answer arrived${because}. The server is reachable${isBrowserContext() ? ' and allows this page (CORS is not the problem)' : ''}; a proxy, a firewall or an overloaded server cut the connection. Try again.`,
          id,
        );
      case 'no-cors-or-unreachable':
        return new ProviderCorsError(
          `The browser could not read ${what}: either the server sends no CORS headers for this page, or it cannot be reached (connection refused or reset, unknown host, offline). This page is cross-origin isolated (COOP/COEP), which keeps the browser from telling the two apart. If the address works from elsewhere, route the calls through a proxy on your own server that sends CORS headers, and set baseUrl to it.`,
          id,
        );
      case 'unreachable':
        return new ProviderNetworkError(
          `Could not connect to ${what}${because}: the connection was refused or reset, the host is unknown, or the network is down. Check the network connection and baseUrl.`,
          id,
        );
    }
  }

  /** A non-retryable HTTP status → typed error. */
  private async statusFailure(response: Response, url: string, phase: CallPhase): Promise<Error> {
    const { status } = response;
    const detail = await readDetail(response, this.redactor);
    const { label, id, info, customBaseUrl } = this.settings;
    const where = describeUrl(url);
    if (phase === 'image') {
      if (status === 403 || status === 404 || status === 410) {
        return new ResultExpiredError(
          `The result image at ${where} is no longer available (HTTP ${status}): ${label}'s result URLs are signed and expire after minutes. Generate again.`,
          id,
          status,
        );
      }
      return new ProviderError(`Fetching ${label}'s result image at ${where} failed with HTTP ${status}${detail ? ` (${detail})` : ''}.`, id, status);
    }
    if (status === 401 || status === 403) {
      const fix = this.settings.auth
        ? `Check the API key${customBaseUrl ? ' and the proxy at baseUrl' : ''} (${info.accountUrl}).`
        : customBaseUrl
          ? 'No API key is configured: the proxy at baseUrl must add it.'
          : `No API key is configured: add one (${info.accountUrl}) or set baseUrl to a proxy that adds it.`;
      return new ProviderAuthError(`${label} refused the credentials (HTTP ${status}${detail ? `: ${detail}` : ''}). ${fix}`, id, status);
    }
    if (status === 402) {
      return new ProviderCreditsError(`${label} says the account has no credits left (HTTP 402${detail ? `: ${detail}` : ''}). Add credits (${info.accountUrl}) or choose another provider.`, id, status);
    }
    if ((status === 400 || status === 422) && MODERATION.test(detail)) {
      return new RequestModeratedError(`${label} refused the prompt on moderation grounds (HTTP ${status}${detail ? `: ${detail}` : ''}). Rephrase the prompt.`, id, status);
    }
    if (status === 404 && phase === 'poll') {
      return new ProviderTaskNotFoundError(`${label} no longer knows this task (HTTP 404 at ${where}): it expired or was never created. Generate again.`, id, status);
    }
    if (status === 404) {
      return new ProviderRequestError(`${label} has nothing at ${where} (HTTP 404${detail ? `: ${detail}` : ''}). Check the model name and baseUrl.`, id, status);
    }
    if (status >= 400 && status < 500) {
      return new ProviderRequestError(`${label} rejected the request (HTTP ${status}${detail ? `: ${detail}` : ''}). Check the parameters and the model name.`, id, status);
    }
    return new ProviderError(`${label} answered HTTP ${status} at ${where}${detail ? ` (${detail})` : ''}.`, id, status);
  }
}

/** Words that mark a moderation refusal in an error body. */
export const MODERATION = /moderat|content[ _-]?policy|nsfw|safety[ _-]?(system|checker|filter)|inappropriate|flagged/i;

/**
 * Runs `work` as one remote call: creates the RemoteCall, converts every escaping error
 * into a typed one, emits `done` on success, and always disposes the deadline timer.
 */
export async function runRemoteCall<T>(settings: ProviderSettings, options: ProviderGenerateOptions | undefined, work: (call: RemoteCall) => Promise<T>): Promise<T> {
  const call = new RemoteCall(settings, options);
  try {
    call.throwIfAborted();
    const result = await work(call);
    call.done();
    return result;
  } catch (error) {
    throw call.typed(error);
  } finally {
    call.dispose();
  }
}

/**
 * A short reason from an error body, with every secret redacted (before it is cut short,
 * so no part of a secret survives the cut); '' when none. Never throws.
 */
async function readDetail(response: Response, redactor: SecretRedactor): Promise<string> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    return '';
  }
  let reason = text;
  try {
    reason = pickMessage(JSON.parse(text)) ?? text;
  } catch {
    // Not JSON: keep the text (an HTML error page is cut short below).
  }
  reason = redactor.text(reason.replace(/\s+/g, ' ').trim());
  if (/^<(!doctype|html)/i.test(reason)) return '';
  return reason.length > 300 ? `${reason.slice(0, 300)}…` : reason;
}

function pickMessage(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  if (!body || typeof body !== 'object') return undefined;
  const record = body as Record<string, unknown>;
  for (const key of ['detail', 'error', 'message', 'title', 'msg']) {
    const value = record[key];
    if (typeof value === 'string' && value) return value;
    if (Array.isArray(value)) {
      const parts = value.map((item) => pickMessage(item) ?? JSON.stringify(item));
      if (parts.length) return parts.join('; ');
    }
    if (value && typeof value === 'object') {
      const nested = pickMessage(value);
      if (nested) {
        const code = (value as Record<string, unknown>).code;
        return typeof code === 'string' && !nested.includes(code) ? `${code}: ${nested}` : nested;
      }
    }
  }
  return undefined;
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
