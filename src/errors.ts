/**
 * Every error this project throws on purpose, in one place.
 *
 * Each class sets `name` to its own class name, so an error that crosses a worker
 * boundary as `{name, message}` can be rebuilt as the same class (see `rebuildError`).
 */

/** Base class of all flux-webgpu errors. */
export class FluxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A parameter (CLI flag or API field) is outside what is allowed. `field` names it. */
export class InvalidParameterError extends FluxError {
  constructor(
    public readonly field: string,
    public readonly allowed: string,
    public readonly received: unknown,
  ) {
    super(`${field} must be ${allowed} (got ${formatReceived(received)})`);
  }
}

/** A source checkpoint is missing files, has unexpected tensors/shapes, or an unsupported config. */
export class CheckpointError extends FluxError {
  constructor(
    message: string,
    public readonly file?: string,
    public readonly tensor?: string,
  ) {
    super(message);
  }
}

/** A web model package (manifest, graph or data file) is missing, malformed or fails its hash. */
export class ModelPackageError extends FluxError {
  constructor(
    message: string,
    public readonly file?: string,
  ) {
    super(message);
  }
}

/** An operation was cancelled through its AbortSignal. */
export class AbortedError extends FluxError {
  constructor(message = 'The operation was cancelled.') {
    super(message);
  }
}

/** This device cannot run the package locally; `missing` names each capability that is short. */
export class DeviceCapabilityError extends FluxError {
  constructor(
    message: string,
    public readonly missing: string[] = [],
  ) {
    super(message);
  }
}

/** Not enough browser storage for the model files (from navigator.storage.estimate()). */
export class StorageQuotaError extends FluxError {
  constructor(
    message: string,
    public readonly neededBytes = 0,
    public readonly availableBytes = 0,
  ) {
    super(message);
  }
}

/** A model file could not be downloaded (network error or HTTP status); retrying resumes it. */
export class DownloadError extends FluxError {
  constructor(
    message: string,
    public readonly url?: string,
    public readonly status?: number,
  ) {
    super(message);
  }
}

/** Downloaded or stored bytes do not match the manifest's sha256. */
export class IntegrityError extends FluxError {
  constructor(
    message: string,
    public readonly file?: string,
  ) {
    super(message);
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
  constructor(
    message: string,
    public readonly reason: HubErrorReason,
    public readonly url?: string,
    public readonly status?: number,
  ) {
    super(message);
  }
}

function formatReceived(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  return String(value);
}

const errorClasses: Record<string, new (...args: never[]) => FluxError> = {
  FluxError,
  InvalidParameterError,
  CheckpointError,
  ModelPackageError,
  AbortedError,
  DeviceCapabilityError,
  StorageQuotaError,
  DownloadError,
  IntegrityError,
  HubError,
};

/**
 * Rebuilds an error that crossed a worker/process boundary as `{name, message}` into
 * an instance of the same class (falling back to FluxError for unknown names).
 */
export function rebuildError(serialized: { name: string; message: string }): Error {
  const ErrorClass = errorClasses[serialized.name];
  const error: Error = ErrorClass ? Object.create(ErrorClass.prototype) : new FluxError(serialized.message);
  error.message = serialized.message;
  error.name = serialized.name;
  return error;
}

// ---------------------------------------------------------------------------
// Hosted providers (src/providers). Every failure of a remote call ends in one of
// these; the message says what to do. `provider` is the provider's id ('bfl', 'fal',
// 'replicate', 'openai', 'monica', 'aimlapi'); `status` the HTTP status, when one came.
// Messages never contain API keys or signed URLs' query strings.

/** Base class of hosted-provider failures. */
export class ProviderError extends FluxError {
  constructor(
    message: string,
    public readonly provider: string = '',
    public readonly status?: number,
  ) {
    super(message);
  }
}

/** The provider rejected the API key (HTTP 401/403): check the key or the proxy's configuration. */
export class ProviderAuthError extends ProviderError {}

/** The provider's account has no credits left (HTTP 402): add credits or choose another provider. */
export class ProviderCreditsError extends ProviderError {}

/** The provider refused on moderation grounds (see the two subclasses). */
export class ProviderModerationError extends ProviderError {}

/** The prompt (the request) was refused by the provider's moderation: rephrase the prompt. */
export class RequestModeratedError extends ProviderModerationError {}

/** The generated image was withheld by the provider's moderation: try another prompt or seed. */
export class ContentModeratedError extends ProviderModerationError {}

/**
 * The provider is rate limiting (HTTP 429) and the bounded retries ran out, or the wait it
 * asked for is too long. `retryAfterMs` (from `Retry-After`, when given) and `retryAt`
 * (epoch milliseconds) say when to try again.
 */
export class RateLimitedError extends ProviderError {
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
export class ProviderRequestError extends ProviderError {}

/** The provider kept failing (HTTP 5xx) after the bounded retries: try again later or use another provider. */
export class ProviderServerError extends ProviderError {}

/** The provider accepted the task but it ended in failure (BFL `Error`, Replicate `failed`/`canceled`, fal error). */
export class ProviderTaskFailedError extends ProviderError {}

/** The provider no longer knows the task (BFL `Task not found`): it expired or was never created; submit again. */
export class ProviderTaskNotFoundError extends ProviderError {}

/** The provider could not be reached (DNS, connection refused, connection reset). */
export class ProviderNetworkError extends ProviderError {}

/**
 * The browser blocked the call (no CORS headers) or could not reach the provider. A page
 * can only call such a provider through a proxy on its own server (`baseUrl`).
 */
export class ProviderCorsError extends ProviderNetworkError {}

/** The provider did not finish within the configured time (`timeoutMs`). */
export class ProviderTimeoutError extends ProviderError {}

/** A result image URL answered 403/404/410: signed result URLs expire after minutes; generate again. */
export class ResultExpiredError extends ProviderError {}

/** The provider answered something this client does not understand; `field` names what was missing or wrong. */
export class ProviderProtocolError extends ProviderError {
  constructor(
    message: string,
    provider = '',
    public readonly field: string = '',
    status?: number,
  ) {
    super(message, provider, status);
  }
}

Object.assign(errorClasses, {
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
});

/** One entry of a BFL-style 422 response (`detail[]`). */
export interface BflValidationDetail {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** A request to the BFL-shaped facade was invalid; `body` is what BFL's API would answer with status 422. */
export class BflValidationError extends FluxError {
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

Object.assign(errorClasses, { BflValidationError, OpenAIRequestError });
