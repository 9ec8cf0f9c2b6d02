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
