/**
 * Every error this project throws on purpose, in one place.
 *
 * Each class states its `name` as a string literal (`static errorName`), so no bundler or
 * minifier can change it: an error that crosses a worker boundary as `{name, message,
 * fields}` is rebuilt as the same class by that name (see `rebuildError`). Each error
 * also carries a `reason`: a small closed union per class, for code (and the UI's
 * explanations) to switch on instead of the message text.
 *
 * Adding a class: declare it with its `errorName`, `defaultReason` and `reason` union,
 * and add it to `ERROR_CLASSES` (one line). Adding a reason: one member of its union.
 */

/** Base class of all flux-webgpu errors. */
export class FluxError extends Error {
  /** The class's name as a literal (survives minification); `name` of every instance. */
  static readonly errorName: string = 'FluxError';
  /** The `reason` of an instance made without one. */
  static readonly defaultReason: string = 'unexpected';
  /** Why it was thrown: a code from the class's closed union (see each class). */
  readonly reason: string;
  declare name: string;

  constructor(message: string, reason?: string) {
    super(message);
    const type = new.target as unknown as typeof FluxError;
    this.name = type.errorName;
    this.reason = reason ?? type.defaultReason;
  }
}

/** Why a plain FluxError was thrown. */
export type FluxErrorReason = 'unexpected' | 'disposed' | 'no-local-model' | 'not-in-document';

/** Why a parameter was refused. */
export type InvalidParameterReason =
  /** Required and absent (or empty). */
  | 'missing'
  /** Not of the type asked for (e.g. a string where a number goes). */
  | 'wrong-type'
  /** A number outside its range (or not a multiple of its step); text too short or long. */
  | 'out-of-range'
  /** Not one of a fixed set of values. */
  | 'not-one-of'
  /** Text that does not parse (a URL, JSON, "W:H"). */
  | 'malformed'
  /** Two fields that cannot go together, or a call at the wrong time. */
  | 'conflict'
  /** A field this API does not have (a typo, or another API's name for it). */
  | 'unknown-field'
  /** A text prompt for a package without text encoders. */
  | 'no-text-encoders'
  /** Prompt embeddings of the wrong shape for the package. */
  | 'embedding-shape'
  /** A value the chosen hosted provider cannot take (strict mode). */
  | 'provider-limit'
  /** Remote-only mode without any hosted provider. */
  | 'no-provider'
  /** A secret where it would be exposed (a key in an attribute or a URL). */
  | 'secret';

/** A parameter (CLI flag or API field) is outside what is allowed. `field` names it, `allowed` says what is. */
export class InvalidParameterError extends FluxError {
  static override readonly errorName = 'InvalidParameterError';
  static override readonly defaultReason = 'out-of-range';
  declare readonly reason: InvalidParameterReason;
  constructor(
    public readonly field: string,
    public readonly allowed: string,
    public readonly received: unknown,
    reason?: InvalidParameterReason,
  ) {
    super(`${field} must be ${allowed} (got ${formatReceived(received)})`, reason ?? (received === undefined || received === null || received === '' ? 'missing' : 'out-of-range'));
  }
}

/** Why a checkpoint was refused. */
export type CheckpointReason = 'bad-checkpoint' | 'missing-file' | 'bad-tensor' | 'unsupported';

/** A source checkpoint is missing files, has unexpected tensors/shapes, or an unsupported config. */
export class CheckpointError extends FluxError {
  static override readonly errorName = 'CheckpointError';
  static override readonly defaultReason = 'bad-checkpoint';
  declare readonly reason: CheckpointReason;
  constructor(
    message: string,
    public readonly file?: string,
    public readonly tensor?: string,
    reason?: CheckpointReason,
  ) {
    super(message, reason);
  }
}

/** Why a model package is not usable. */
export type ModelPackageReason =
  /** manifest.json is not a valid manifest (or a file of the package is not what it claims). */
  | 'bad-package'
  /** A graph could not be turned into an onnxruntime session. */
  | 'session-failed'
  /** A file is not (completely) in the weight store. */
  | 'not-stored'
  /** The model was unloaded while in use. */
  | 'unloaded'
  /** The package has no text encoders (tokenizers) for a text prompt. */
  | 'no-text-encoders'
  /** The package has no VAE encoder graph, which image-to-image needs. */
  | 'no-vae-encoder';

/** A web model package (manifest, graph or data file) is missing, malformed or fails its hash. */
export class ModelPackageError extends FluxError {
  static override readonly errorName = 'ModelPackageError';
  static override readonly defaultReason = 'bad-package';
  declare readonly reason: ModelPackageReason;
  constructor(
    message: string,
    public readonly file?: string,
    reason?: ModelPackageReason,
  ) {
    super(message, reason);
  }
}

/** An operation was cancelled through its AbortSignal. */
export class AbortedError extends FluxError {
  static override readonly errorName = 'AbortedError';
  static override readonly defaultReason = 'cancelled';
  declare readonly reason: 'cancelled';
  constructor(message = 'The operation was cancelled.') {
    super(message);
  }
}

/** Throws AbortedError when `signal` is aborted (checked between steps, shards and files). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError();
}

/** Why this device cannot run a request. */
export type DeviceCapabilityReason =
  /** The browser has no WebGPU. */
  | 'no-webgpu'
  /** WebGPU without an adapter (turned off or blocklisted). */
  | 'no-adapter'
  /** The adapter refused to create a device. */
  | 'device-refused'
  /** The GPU lacks a feature the package needs (e.g. shader-f16). */
  | 'missing-feature'
  /** A weight buffer of the package exceeds the GPU's buffer limits. */
  | 'package-too-large'
  /** The requested width × height needs a larger buffer than the GPU allows. */
  | 'size-too-large'
  /** The GPU could not allocate the memory the package needs. */
  | 'gpu-memory';

/** The reason for a set of missing capabilities (the first that decides). */
export function capabilityReason(missing: readonly string[]): DeviceCapabilityReason {
  if (missing.includes('webgpu')) return 'no-webgpu';
  if (missing.includes('webgpu-adapter')) return 'no-adapter';
  if (missing.includes('webgpu-device')) return 'device-refused';
  if (missing.some((m) => m === 'maxBufferSize' || m === 'maxStorageBufferBindingSize')) return 'package-too-large';
  if (missing.some((m) => m.startsWith('gpu-memory'))) return 'gpu-memory';
  return 'missing-feature';
}

/** This device cannot run the package locally; `missing` names each capability that is short. */
export class DeviceCapabilityError extends FluxError {
  static override readonly errorName: string = 'DeviceCapabilityError';
  static override readonly defaultReason: DeviceCapabilityReason = 'missing-feature';
  declare readonly reason: DeviceCapabilityReason;
  /** With `missing: ['gpu-memory']`: the GPU bytes the request needs under the lightest plan that could run it. */
  readonly neededBytes?: number;
  /** With `missing: ['gpu-memory']`: the GPU bytes the device gave (the allocation probe). */
  readonly availableBytes?: number;
  constructor(
    message: string,
    public readonly missing: string[] = [],
    reason?: DeviceCapabilityReason,
    bytes?: { neededBytes: number; availableBytes: number },
  ) {
    super(message, reason ?? capabilityReason(missing));
    if (bytes) {
      this.neededBytes = bytes.neededBytes;
      this.availableBytes = bytes.availableBytes;
    }
  }
}

/**
 * The GPU device was lost while the model ran (a driver reset, the GPU ran out of memory,
 * or the device was destroyed). The engine drops its device and device reports; the next
 * call creates a new device.
 */
export class DeviceLostError extends FluxError {
  static override readonly errorName = 'DeviceLostError';
  static override readonly defaultReason = 'device-lost';
  declare readonly reason: 'device-lost';
  constructor(
    message: string,
    /** The stage that was running ('load', 'encode', 'denoise', 'decode', …). */
    public readonly stage: string = '',
  ) {
    super(message);
  }
}

/**
 * The GPU ran out of memory (or was lost) while a memory plan loaded or ran. The engine's
 * WebGPU runtime is unusable afterwards, so the page replaces the worker and runs the
 * request again under `fallbackPlan` (null: no lighter plan is left).
 */
export class GpuOutOfMemoryError extends DeviceCapabilityError {
  static override readonly errorName = 'GpuOutOfMemoryError';
  static override readonly defaultReason = 'gpu-memory';
  constructor(
    message: string,
    public readonly plan: string,
    public readonly fallbackPlan: string | null,
    bytes?: { neededBytes: number; availableBytes: number },
  ) {
    super(message, ['gpu-memory'], 'gpu-memory', bytes);
  }
}

/** How the generator worker died. */
export type WorkerCrashReason =
  /** It stopped: terminated from outside, closed itself, or its process ended. */
  | 'exited'
  /** An uncaught error in the worker. */
  | 'uncaught-error'
  /** onnxruntime's WebAssembly aborted (e.g. out of memory): its instance is unusable. */
  | 'wasm-abort'
  /** It stopped answering its heartbeat. */
  | 'unresponsive'
  /** Its script could not be loaded or run. */
  | 'failed-to-start'
  /** It sent a message that could not be read. */
  | 'message-error';

/**
 * The generator worker died while calls were pending (or before they could run). Every
 * pending call rejects with this; the next call starts a fresh worker.
 */
export class WorkerCrashedError extends FluxError {
  static override readonly errorName = 'WorkerCrashedError';
  static override readonly defaultReason = 'exited';
  declare readonly reason: WorkerCrashReason;
  constructor(
    message: string,
    reason: WorkerCrashReason,
    /** The last stage the call was in ('download', 'load', 'encode', 'denoise', 'decode'), or its operation ('generate', 'checkDevice', …) before any progress. */
    public readonly stage: string = '',
  ) {
    super(message, reason);
  }
}

/** Why there is not enough storage. */
export type StorageQuotaReason = 'quota-exceeded' | 'write-refused';

/** Not enough browser storage for the model files (from navigator.storage.estimate()). */
export class StorageQuotaError extends FluxError {
  static override readonly errorName = 'StorageQuotaError';
  static override readonly defaultReason = 'quota-exceeded';
  declare readonly reason: StorageQuotaReason;
  constructor(
    message: string,
    public readonly neededBytes = 0,
    public readonly availableBytes = 0,
    reason?: StorageQuotaReason,
  ) {
    super(message, reason);
  }
}

/** Why a download failed. */
export type DownloadReason =
  /** The connection failed (or was reset). */
  | 'network'
  /** The server answered an error status (`status`). */
  | 'http-status'
  /** The server answered a Range request with other bytes. */
  | 'bad-range'
  /** No bytes arrived for too long. */
  | 'stalled'
  /** The automatic retries of one load ran out (see DownloadRetriesExhaustedError.fault). */
  | 'retries-exhausted';

/** A model file could not be downloaded (network error or HTTP status); retrying resumes it. */
export class DownloadError extends FluxError {
  static override readonly errorName: string = 'DownloadError';
  static override readonly defaultReason: DownloadReason = 'network';
  declare readonly reason: DownloadReason;
  constructor(
    message: string,
    public readonly url?: string,
    public readonly status?: number,
    reason?: DownloadReason,
  ) {
    super(message, reason ?? (status === undefined ? 'network' : 'http-status'));
  }
}

/** Why stored or downloaded bytes were refused. */
export type IntegrityReason = 'hash-mismatch' | 'chunk-corrupted' | 'size-mismatch';

/** Downloaded or stored bytes do not match the manifest's sha256. */
export class IntegrityError extends FluxError {
  static override readonly errorName = 'IntegrityError';
  static override readonly defaultReason = 'hash-mismatch';
  declare readonly reason: IntegrityReason;
  constructor(
    message: string,
    public readonly file?: string,
    reason?: IntegrityReason,
  ) {
    super(message, reason);
  }
}

/** Why the Hugging Face Hub (or the server at `hubUrl`) refused a source. */
export type HubErrorReason = 'repo-not-found' | 'revision-not-found' | 'file-not-found' | 'gated' | 'token-rejected' | 'forbidden' | 'rate-limited';

/**
 * The Hub refused a source request; `reason` says which case, the message what to do
 * (check the name, accept a gated repository's licence and give a token, …). `url`
 * never carries the token (it only ever travels in a request header).
 */
export class HubError extends FluxError {
  static override readonly errorName = 'HubError';
  static override readonly defaultReason = 'forbidden';
  declare readonly reason: HubErrorReason;
  constructor(
    message: string,
    reason: HubErrorReason,
    public readonly url?: string,
    public readonly status?: number,
  ) {
    super(message, reason);
  }
}

function formatReceived(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  if (typeof value === 'function') return 'a function';
  return String(value);
}

// ---------------------------------------------------------------------------
// Hosted providers (src/providers). Every failure of a remote call ends in one of
// these; the message says what to do. `provider` is the provider's id ('bfl', 'fal',
// 'replicate', 'openai', 'monica', 'aimlapi'); `status` the HTTP status, when one came.
// Messages never contain API keys or signed URLs' query strings.

/** Why a hosted provider failed (each subclass has its own). */
export type ProviderErrorReason =
  | 'failed'
  | 'auth'
  | 'credits'
  | 'request-moderated'
  | 'content-moderated'
  | 'rate-limited'
  | 'bad-request'
  | 'server-error'
  | 'task-failed'
  | 'task-not-found'
  | 'network'
  | 'cors'
  | 'timeout'
  | 'result-expired'
  | 'protocol'
  | 'redirect'
  /** The provider or its model cannot do what was asked (e.g. image-to-image). */
  | 'unsupported';

/** Base class of hosted-provider failures. */
export class ProviderError extends FluxError {
  static override readonly errorName: string = 'ProviderError';
  static override readonly defaultReason: ProviderErrorReason = 'failed';
  declare readonly reason: ProviderErrorReason;
  constructor(
    message: string,
    public readonly provider: string = '',
    public readonly status?: number,
    reason?: ProviderErrorReason,
  ) {
    super(message, reason);
  }
}

/** The provider rejected the API key (HTTP 401/403): check the key or the proxy's configuration. */
export class ProviderAuthError extends ProviderError {
  static override readonly errorName = 'ProviderAuthError';
  static override readonly defaultReason = 'auth';
}

/** The provider's account has no credits left (HTTP 402): add credits or choose another provider. */
export class ProviderCreditsError extends ProviderError {
  static override readonly errorName = 'ProviderCreditsError';
  static override readonly defaultReason = 'credits';
}

/** The provider refused on moderation grounds (see the two subclasses). */
export class ProviderModerationError extends ProviderError {
  static override readonly errorName: string = 'ProviderModerationError';
  static override readonly defaultReason: ProviderErrorReason = 'request-moderated';
}

/** The prompt (the request) was refused by the provider's moderation: rephrase the prompt. */
export class RequestModeratedError extends ProviderModerationError {
  static override readonly errorName = 'RequestModeratedError';
  static override readonly defaultReason = 'request-moderated';
}

/** The generated image was withheld by the provider's moderation: try another prompt or seed. */
export class ContentModeratedError extends ProviderModerationError {
  static override readonly errorName = 'ContentModeratedError';
  static override readonly defaultReason = 'content-moderated';
}

/**
 * The provider is rate limiting (HTTP 429) and the bounded retries ran out, or the wait it
 * asked for is too long. `retryAfterMs` (from `Retry-After`, when given) and `retryAt`
 * (epoch milliseconds) say when to try again.
 */
export class RateLimitedError extends ProviderError {
  static override readonly errorName = 'RateLimitedError';
  static override readonly defaultReason = 'rate-limited';
  public readonly retryAt?: number;
  constructor(
    message: string,
    provider = '',
    public readonly retryAfterMs?: number,
  ) {
    super(message, provider, 429);
    this.retryAt = retryAfterMs === undefined ? undefined : Date.now() + retryAfterMs;
  }
}

/** The provider rejected the request itself (HTTP 400/404/422): a parameter, the model name or the base URL is wrong. */
export class ProviderRequestError extends ProviderError {
  static override readonly errorName = 'ProviderRequestError';
  static override readonly defaultReason = 'bad-request';
}

/** The provider kept failing (HTTP 5xx) after the bounded retries: try again later or use another provider. */
export class ProviderServerError extends ProviderError {
  static override readonly errorName = 'ProviderServerError';
  static override readonly defaultReason = 'server-error';
}

/** The provider accepted the task but it ended in failure (BFL `Error`, Replicate `failed`/`canceled`, fal error). */
export class ProviderTaskFailedError extends ProviderError {
  static override readonly errorName = 'ProviderTaskFailedError';
  static override readonly defaultReason = 'task-failed';
}

/** The provider no longer knows the task (BFL `Task not found`): it expired or was never created; submit again. */
export class ProviderTaskNotFoundError extends ProviderError {
  static override readonly errorName = 'ProviderTaskNotFoundError';
  static override readonly defaultReason = 'task-not-found';
}

/** The provider could not be reached (DNS, connection refused, connection reset). */
export class ProviderNetworkError extends ProviderError {
  static override readonly errorName: string = 'ProviderNetworkError';
  static override readonly defaultReason: ProviderErrorReason = 'network';
}

/**
 * The browser blocked the call (no CORS headers) or could not reach the provider. A page
 * can only call such a provider through a proxy on its own server (`baseUrl`).
 */
export class ProviderCorsError extends ProviderNetworkError {
  static override readonly errorName = 'ProviderCorsError';
  static override readonly defaultReason = 'cors';
}

/** The provider did not finish within the configured time (`timeoutMs`). */
export class ProviderTimeoutError extends ProviderError {
  static override readonly errorName = 'ProviderTimeoutError';
  static override readonly defaultReason = 'timeout';
}

/** A result image URL answered 403/404/410: signed result URLs expire after minutes; generate again. */
export class ResultExpiredError extends ProviderError {
  static override readonly errorName = 'ResultExpiredError';
  static override readonly defaultReason = 'result-expired';
}

/** The provider answered something this client does not understand; `field` names what was missing or wrong. */
export class ProviderProtocolError extends ProviderError {
  static override readonly errorName = 'ProviderProtocolError';
  static override readonly defaultReason = 'protocol';
  constructor(
    message: string,
    provider = '',
    public readonly field: string = '',
    status?: number,
  ) {
    super(message, provider, status);
  }
}

/**
 * The provider (or its configured model) cannot do what the request asks, e.g. start from
 * a picture (image-to-image); thrown before anything is sent. `feature` names it and the
 * message says which model or provider can.
 */
export class ProviderUnsupportedError extends ProviderError {
  static override readonly errorName = 'ProviderUnsupportedError';
  static override readonly defaultReason = 'unsupported';
  constructor(
    message: string,
    provider: string,
    public readonly feature: string,
  ) {
    super(message, provider, undefined, 'unsupported');
  }
}

/** One entry of a BFL-style 422 response (`detail[]`). */
export interface BflValidationDetail {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** A request to the BFL-shaped facade was invalid; `body` is what BFL's API would answer with status 422. */
export class BflValidationError extends FluxError {
  static override readonly errorName = 'BflValidationError';
  static override readonly defaultReason = 'invalid-request';
  declare readonly reason: 'invalid-request';
  readonly status = 422;
  constructor(public readonly detail: BflValidationDetail[]) {
    super(`BFL request invalid: ${detail.map((d) => `${d.loc.join('.')}: ${d.msg}`).join('; ')}`);
  }

  /** The JSON body BFL's API answers with. */
  get body(): { detail: BflValidationDetail[] } {
    return { detail: this.detail };
  }
}

/** A request to the OpenAI-shaped facade was invalid; `body` is what OpenAI's API would answer with status 400. */
export class OpenAIRequestError extends FluxError {
  static override readonly errorName = 'OpenAIRequestError';
  static override readonly defaultReason = 'invalid-request';
  declare readonly reason: 'invalid-request';
  readonly status = 400;
  constructor(
    message: string,
    public readonly param: string | null,
  ) {
    super(message);
  }

  /** The JSON body OpenAI's API answers with. */
  get body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: 'invalid_request_error', param: this.param, code: null } };
  }
}

// ---------------------------------------------------------------------------
// Redirects of provider calls and retried downloads.

/**
 * A provider call was redirected where this client will not follow: to another origin
 * while it carries the API key (the key is never sent across a redirect), a redirect the
 * browser hides from the page (`opaqueredirect`: its target cannot be checked), or a
 * redirect loop. `location` is the target's origin and path, when it could be read.
 */
export class ProviderRedirectError extends ProviderError {
  static override readonly errorName = 'ProviderRedirectError';
  static override readonly defaultReason = 'redirect';
  constructor(
    message: string,
    provider = '',
    status?: number,
    public readonly location?: string,
  ) {
    super(message, provider, status);
  }
}

/**
 * A model file kept failing after the automatic retries of one `load()`/`ensureFiles` call
 * ran out (reason `retries-exhausted`). `attempts` counts the requests made for the file in
 * the call; `fault` names the last failure: 'stalled' (no bytes within the idle timeout),
 * 'dropped' (the connection closed early), 'http' (408, 429 or 5xx), 'range' (the server
 * kept mis-answering Range requests) or 'chunk' (a chunk kept failing its sha256). Bytes
 * already stored are kept.
 */
export class DownloadRetriesExhaustedError extends DownloadError {
  static override readonly errorName = 'DownloadRetriesExhaustedError';
  static override readonly defaultReason = 'retries-exhausted';
  constructor(
    message: string,
    url: string | undefined,
    status: number | undefined,
    public readonly attempts: number,
    public readonly fault: string,
  ) {
    super(message, url, status, 'retries-exhausted');
  }
}

/** Why an optional dependency was missing. */
export type MissingDependencyReason = 'not-installed';

/** An optional dependency a feature needs is not installed (the Node CLI's onnxruntime-node). `dependency` names it. */
export class MissingDependencyError extends FluxError {
  static override readonly errorName = 'MissingDependencyError';
  static override readonly defaultReason = 'not-installed';
  declare readonly reason: MissingDependencyReason;
  constructor(
    public readonly dependency: string,
    message: string,
  ) {
    super(message, 'not-installed');
  }
}

/** Which of the library's own files could not be loaded. */
export type LibraryAssetReason = 'worker' | 'wasm';

/**
 * The library's own worker script or onnxruntime's wasm could not be loaded from where it
 * was looked for (a bundler that did not emit it, a server answering with an HTML page).
 * `asset` (also the `reason`) says which, `url` where it was looked for (when known).
 */
export class LibraryAssetError extends FluxError {
  static override readonly errorName = 'LibraryAssetError';
  static override readonly defaultReason = 'worker';
  declare readonly reason: LibraryAssetReason;
  constructor(
    public readonly asset: LibraryAssetReason,
    message: string,
    public readonly url?: string,
  ) {
    super(message, asset);
  }
}

/** Every error class, so that errors crossing a boundary by `name` are rebuilt as their class. Add new classes here. */
export const ERROR_CLASSES = [
  FluxError,
  InvalidParameterError,
  CheckpointError,
  ModelPackageError,
  AbortedError,
  DeviceCapabilityError,
  GpuOutOfMemoryError,
  DeviceLostError,
  WorkerCrashedError,
  StorageQuotaError,
  DownloadError,
  IntegrityError,
  HubError,
  ProviderError,
  ProviderAuthError,
  ProviderCreditsError,
  ProviderModerationError,
  RequestModeratedError,
  ContentModeratedError,
  RateLimitedError,
  ProviderRequestError,
  ProviderServerError,
  ProviderTaskFailedError,
  ProviderTaskNotFoundError,
  ProviderNetworkError,
  ProviderCorsError,
  ProviderTimeoutError,
  ResultExpiredError,
  ProviderProtocolError,
  ProviderUnsupportedError,
  ProviderRedirectError,
  DownloadRetriesExhaustedError,
  MissingDependencyError,
  LibraryAssetError,
  BflValidationError,
  OpenAIRequestError,
] as const;

const errorClasses = new Map<string, (typeof ERROR_CLASSES)[number]>(ERROR_CLASSES.map((type) => [type.errorName, type]));

/**
 * Rebuilds an error that crossed a worker/process boundary as `{name, message}` into
 * an instance of the same class (falling back to FluxError for unknown names).
 */
export function rebuildError(serialized: { name: string; message: string }): Error {
  const ErrorClass = errorClasses.get(serialized.name);
  const error: Error & { reason?: string } = ErrorClass ? Object.create(ErrorClass.prototype) : new FluxError(serialized.message);
  error.message = serialized.message;
  error.name = ErrorClass ? serialized.name : FluxError.errorName;
  error.reason ??= (ErrorClass ?? FluxError).defaultReason;
  return error;
}
