/**
 * When and how often a model download is retried: the retry settings (idle timeout,
 * retries in a row, a total budget per `ensureFiles` call, backoff with jitter), the
 * faults worth a retry, and the bookkeeping of one file's retries. Browser and worker
 * code; no DOM, no Node.
 *
 * Retried: a connection that fails or drops mid-body, a body that stalls for the idle
 * timeout, HTTP 408/429/5xx (501 and 505 excepted; `Retry-After` honoured when readable),
 * a Range request answered from another byte than the one asked for, and a chunk whose bytes
 * fail the manifest's sha256. Not retried: other HTTP statuses (404, 403, …), a file
 * longer than the manifest says, storage errors, aborts.
 */
import { AbortedError, DownloadError, DownloadRetriesExhaustedError, InvalidParameterError } from '../errors.ts';
import { WEIGHT_STORE_DEFAULTS } from './weight-store-defaults.ts';

/** Retry settings of model downloads (`WeightStore`, `ensureFiles`, the engine's `download` setting). */
export interface DownloadRetryOptions {
  /** No body bytes for this long → the request is aborted and retried, ms (default 30 000; ≥ 1). */
  idleTimeoutMs?: number;
  /** Retries in a row of one file without a new byte stored in between (default 5; 0 turns retries off). */
  maxRetries?: number;
  /** Retries of one `ensureFiles` call (one `load()`), all files together (default 30). */
  maxTotalRetries?: number;
  /** First wait before a retry, ms (default 1000); doubled per retry in a row, ±25 % jitter. */
  retryBaseMs?: number;
  /** Longest wait before a retry, ms (default 30 000); also caps a server's Retry-After. */
  retryMaxMs?: number;
}

/** {@link DownloadRetryOptions} with every value set. */
export type DownloadRetryPolicy = Required<DownloadRetryOptions>;

const FIELDS: (keyof DownloadRetryOptions)[] = ['idleTimeoutMs', 'maxRetries', 'maxTotalRetries', 'retryBaseMs', 'retryMaxMs'];

/**
 * The retry settings: the defaults, overridden by each `layers` entry in turn.
 * @param where the option's name in messages (e.g. "retry")
 * @throws InvalidParameterError naming a field that is not a whole number ≥ 0 (idleTimeoutMs ≥ 1)
 */
export function resolveRetryPolicy(layers: (DownloadRetryOptions | undefined)[] = [], where = 'retry'): DownloadRetryPolicy {
  const policy: DownloadRetryPolicy = {
    idleTimeoutMs: WEIGHT_STORE_DEFAULTS.idleTimeoutMs,
    maxRetries: WEIGHT_STORE_DEFAULTS.maxRetries,
    maxTotalRetries: WEIGHT_STORE_DEFAULTS.maxTotalRetries,
    retryBaseMs: WEIGHT_STORE_DEFAULTS.retryBaseMs,
    retryMaxMs: WEIGHT_STORE_DEFAULTS.retryMaxMs,
  };
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (layer === null || typeof layer !== 'object') throw new InvalidParameterError(where, `an object with ${FIELDS.join(', ')}`, layer);
    for (const field of FIELDS) {
      const value = layer[field];
      if (value === undefined) continue;
      const least = field === 'idleTimeoutMs' ? 1 : 0;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < least) throw new InvalidParameterError(`${where}.${field}`, `a whole number ≥ ${least}`, value);
      policy[field] = value;
    }
  }
  return policy;
}

/** What went wrong with one request. */
export type DownloadFaultKind =
  /** No body bytes within the idle timeout. */
  | 'stalled'
  /** The request failed before an answer (connection refused or reset, DNS, offline, CORS). */
  | 'network'
  /** The connection closed or broke in the middle of the body. */
  | 'dropped'
  /** HTTP 408, 429 or 5xx. */
  | 'http'
  /** A Range request answered from another byte than asked (206 from 0; a gap): asked again at once. */
  | 'range'
  /** A chunk's bytes failed the manifest's sha256: that chunk is fetched again. */
  | 'chunk';

/** A retryable failure of one request: what it was, and the error to throw if it is not retried. */
export class DownloadFault extends Error {
  constructor(
    readonly kind: DownloadFaultKind,
    /** The typed error for this failure when no retry is left (or retries are off). */
    readonly error: Error,
    readonly status?: number,
    /** What the server asked for (Retry-After), ms. */
    readonly retryAfterMs?: number,
    /** Retry at once, without backoff (a different request is made, e.g. without Range). */
    readonly immediate = false,
  ) {
    super(error.message);
    this.name = 'DownloadFault';
  }
}

/** Whether an HTTP status is worth a retry (408, 429, 5xx but 501/505). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** What the page is told before a retry (it becomes a `download` progress event with `status: 'retrying'`). */
export interface RetryNotice {
  fault: DownloadFaultKind;
  httpStatus?: number;
  /** The request about to be made, counting from 1 since the last byte stored. */
  attempt: number;
  /** Requests allowed in a row without a new byte stored (maxRetries + 1). */
  maxAttempts: number;
  /** Wait before it, ms. */
  delayMs: number;
  /** For people: "the connection dropped; retrying in 4 s (attempt 2 of 6)". */
  message: string;
}

/** The retries left to one `ensureFiles` call (shared by its files). */
export class RetryBudget {
  used = 0;
  constructor(readonly policy: DownloadRetryPolicy) {}
}

/** Words for a fault in a retry message. */
const FAULT_WORDS: Record<DownloadFaultKind, string> = {
  stalled: 'no bytes arrived within the idle timeout',
  network: 'the request failed',
  dropped: 'the connection dropped',
  http: 'the server answered HTTP',
  range: 'the server answered the Range request from the wrong byte',
  chunk: 'a chunk failed its sha256 check',
};

/** "4 s", "0.3 s", "2 min". */
export function formatDelay(ms: number): string {
  if (ms < 1_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** The retry bookkeeping of one file in one `ensureFiles` call. */
export class FileRetries {
  /** Retries in a row since the last new byte. */
  private inARow = 0;
  /** Requests made for the file in this call. */
  requests = 1;
  private receivedAtLastFault = -1;

  constructor(
    private readonly budget: RetryBudget,
    private readonly url: string,
    private readonly signal: AbortSignal | undefined,
    private readonly onRetry: ((notice: RetryNotice) => void) | undefined,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Waits before the next request after `fault`, telling the page; or throws when no retry
   * is left: the fault's own error when retries are off, else DownloadRetriesExhaustedError.
   * @param received bytes of the file held now (a retry after new bytes starts a new run)
   * @throws AbortedError when the signal aborts during the wait
   */
  async next(fault: DownloadFault, received: number): Promise<void> {
    const { policy } = this.budget;
    if (received > this.receivedAtLastFault) this.inARow = 0;
    this.receivedAtLastFault = received;
    if (policy.maxRetries === 0) throw fault.error;
    if (this.inARow >= policy.maxRetries || this.budget.used >= policy.maxTotalRetries) {
      const why = this.inARow >= policy.maxRetries ? `${policy.maxRetries} retries in a row without progress` : `the ${policy.maxTotalRetries} retries of this load`;
      const status = fault.error instanceof DownloadError ? fault.error.status : fault.status;
      throw new DownloadRetriesExhaustedError(`${fault.error.message.replace(/; call again to resume$/, '')} — gave up after ${this.requests} attempts (${why} used up); what was stored is kept, call again to resume`, this.url, status, this.requests, fault.kind);
    }
    this.inARow += 1;
    this.budget.used += 1;
    this.requests += 1;
    const delayMs = fault.immediate ? 0 : this.delay(fault);
    const what = fault.kind === 'http' ? `${FAULT_WORDS.http} ${fault.status}` : FAULT_WORDS[fault.kind];
    const attempt = this.inARow + 1;
    const maxAttempts = policy.maxRetries + 1;
    this.onRetry?.({
      fault: fault.kind,
      ...(fault.status === undefined ? {} : { httpStatus: fault.status }),
      attempt,
      maxAttempts,
      delayMs,
      message: `${what}; retrying ${delayMs === 0 ? 'now' : `in ${formatDelay(delayMs)}`} (attempt ${attempt} of ${maxAttempts})`,
    });
    if (delayMs > 0) await sleep(delayMs, this.signal);
  }

  /** Exponential backoff with ±25 % jitter, or the server's Retry-After; at most retryMaxMs. */
  private delay(fault: DownloadFault): number {
    const { retryBaseMs, retryMaxMs } = this.budget.policy;
    if (fault.retryAfterMs !== undefined) return Math.min(fault.retryAfterMs, retryMaxMs);
    const backoff = retryBaseMs * 2 ** (this.inARow - 1);
    return Math.round(Math.min(retryMaxMs, backoff * (0.75 + 0.5 * this.random())));
  }
}

/** Waits `ms`; rejects with AbortedError when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

