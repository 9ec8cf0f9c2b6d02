/**
 * Friendly, actionable text for every error the generator can throw: what happened, in
 * plain words, and what to do next. Messages never contain API keys (the errors
 * themselves never carry them).
 */

/** An error explained for people. */
export interface ErrorExplanation {
  /** One short sentence: what happened. */
  summary: string;
  /** What to do next. */
  action: string;
  /** The technical detail (the error's own message), for the curious. */
  detail: string;
  /** True when the browser lacks WebGPU (the page then offers hosted providers). */
  noWebGpu?: boolean;
}

type ErrorLike = {
  name?: string;
  message?: string;
  field?: string;
  allowed?: string;
  missing?: string[];
  provider?: string;
  retryAt?: number;
  retryAfterMs?: number;
  neededBytes?: number;
  availableBytes?: number;
};

const PROVIDER_NAMES: Record<string, string> = {
  bfl: 'Black Forest Labs',
  fal: 'fal',
  replicate: 'Replicate',
  openai: 'the OpenAI-compatible gateway',
  monica: 'Monica',
  aimlapi: 'AI/ML API',
};

const FIELD_NAMES: Record<string, string> = {
  prompt: 'The prompt',
  width: 'The width',
  height: 'The height',
  steps: 'The number of steps',
  seed: 'The seed',
  numImages: 'The number of images',
  outputFormat: 'The image format',
  model: 'The model',
  privacy: 'The privacy mode',
  providers: 'The provider settings',
  provider: 'The provider setting',
  baseUrl: 'The provider URL',
  apiKey: 'The API key',
};

/** The plain "no WebGPU" explanation, shared by the widget and the app. */
export const NO_WEBGPU = {
  summary: 'This browser has no WebGPU, so the model cannot run on this device.',
  action: 'Open this page in a recent Chrome or Edge (or another browser with WebGPU turned on), or choose a hosted provider: your prompt is then sent to it.',
};

function providerName(e: ErrorLike): string {
  return PROVIDER_NAMES[e.provider ?? ''] ?? (e.provider || 'the provider');
}

/** Explains any thrown value. */
export function explainError(error: unknown): ErrorExplanation {
  const e = (error ?? {}) as ErrorLike;
  const detail = e.message ?? String(error);
  const out = (summary: string, action: string, extra: Partial<ErrorExplanation> = {}): ErrorExplanation => ({ summary, action, detail, ...extra });
  switch (e.name) {
    case 'AbortedError':
      return out('Cancelled.', 'Nothing was lost: model files downloaded so far stay stored, and the next try resumes.');
    case 'InvalidParameterError': {
      const base = (e.field ?? '').replace(/[[.].*$/, '');
      const what = FIELD_NAMES[base] ?? `“${e.field}”`;
      if (e.field === 'prompt' && /embeddings/.test(e.allowed ?? '')) return out('This model package cannot read text prompts.', 'Choose a package with text encoders (the demo and the real FLUX.1 [schnell] packages have them).');
      if (e.field === 'providers' && /hosted provider/.test(e.allowed ?? '')) return out('No hosted provider is set up.', 'Add one in the provider settings, or choose to run on this device.');
      return out(`${what} must be ${e.allowed ?? 'valid'}.`, 'Change it and try again.');
    }
    case 'DeviceCapabilityError':
      // 'webgpu' (no API), 'webgpu-adapter' (turned off or blocklisted), 'webgpu-device' (refused).
      if (e.missing?.some((m) => m.startsWith('webgpu'))) return out(NO_WEBGPU.summary, NO_WEBGPU.action, { noWebGpu: true });
      return out(
        'This device’s GPU is too small for this request.',
        /×/.test(detail) ? 'Try a smaller width and height, or allow a hosted provider.' : 'Use a device with a larger GPU, or allow a hosted provider (your prompt is then sent to it).',
      );
    case 'StorageQuotaError':
      return out('There is not enough browser storage for the model.', 'Free some disk space, or delete stored models or gallery images (Storage), then try again.');
    case 'DownloadError':
      return out('A model file could not be downloaded.', 'Check the connection and try again: the download resumes where it stopped. If it keeps failing, check the model URL.');
    case 'IntegrityError':
      return out('A downloaded model file was damaged, so it was thrown away.', 'Try again to fetch it anew.');
    case 'ModelPackageError':
      return out('The model package is not usable.', 'Check the model URL: it must point to a folder made by `flux-webgpu convert`.');
    case 'ProviderAuthError':
      return out(`${providerName(e)} did not accept the API key.`, 'Check the key (or the proxy’s configuration) in the provider settings.');
    case 'ProviderCreditsError':
      return out(`Your ${providerName(e)} account has no credits left.`, 'Add credits to the account, or choose another provider.');
    case 'RateLimitedError': {
      const wait = e.retryAt ? Math.max(1, Math.ceil((e.retryAt - Date.now()) / 1000)) : undefined;
      return out(`${providerName(e)} is busy with too many requests from you.`, wait ? `Try again in about ${wait} s.` : 'Wait a minute and try again.');
    }
    case 'RequestModeratedError':
      return out(`${providerName(e)} refused this prompt (moderation).`, 'Rephrase the prompt and try again.');
    case 'ContentModeratedError':
      return out(`${providerName(e)} withheld the image (moderation).`, 'Try another prompt or seed.');
    case 'ProviderCorsError':
      return out(`This page may not call ${providerName(e)} directly (the browser blocked it).`, 'Give the provider a proxy URL on your own server in the provider settings (its “base URL”).');
    case 'ProviderNetworkError':
      return out(`${providerName(e)} could not be reached.`, 'Check the connection and the provider URL, then try again.');
    case 'ProviderTimeoutError':
      return out(`${providerName(e)} took too long.`, 'Try again later, or choose another provider.');
    case 'ResultExpiredError':
      return out('The image link from the provider expired before it could be fetched.', 'Generate again.');
    case 'ProviderServerError':
      return out(`${providerName(e)} is having problems.`, 'Try again later, or choose another provider.');
    case 'ProviderRequestError':
      return out(`${providerName(e)} rejected the request.`, 'Check the provider’s model name and URL in the settings; some providers accept only certain sizes.');
    case 'ProviderTaskFailedError':
    case 'ProviderTaskNotFoundError':
      return out(`${providerName(e)} could not finish the image.`, 'Generate again.');
    case 'ProviderProtocolError':
      return out(`${providerName(e)} answered in a way this page does not understand.`, 'Check the provider URL (a proxy must forward the provider’s answers unchanged).');
    case 'ProviderError':
      return out(`${providerName(e)} failed.`, 'Try again, or choose another provider.');
    case 'FluxError':
      if (/worker failed/.test(detail)) return out('The generator could not start in this browser.', 'Reload the page; if it keeps failing, the site may block its scripts (check its Content-Security-Policy).');
      return out('Something went wrong.', 'Try again; reload the page if it keeps failing.');
    default:
      return out('Something went wrong.', 'Try again; reload the page if it keeps failing.');
  }
}

/** One paragraph: what happened and what to do. */
export function describeError(error: unknown): string {
  const { summary, action } = explainError(error);
  return `${summary} ${action}`;
}
