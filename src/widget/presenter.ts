/**
 * Words for people: what the widget (and the app around it) says about errors, routes
 * and results. Errors are explained by their class and `reason` (errors.ts), never by
 * their message text, so rewording a message cannot change what people are told; the
 * message itself is only shown as the technical detail. No DOM here (view.ts renders).
 */
import type { GenerateResult } from '../api-types.ts';
import type { RouteDecision } from '../routing.ts';
import type { PrivacyState } from './view.ts';

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
  reason?: string;
  message?: string;
  field?: string;
  allowed?: string;
  provider?: string;
  retryAt?: number;
  stage?: string;
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
  promptEmbeddings: 'The prompt embeddings',
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
  image: 'The input picture',
  strength: 'The strength',
  fit: 'The picture fit',
};

/** The plain "no WebGPU" explanation, shared by the widget and the app. */
export const NO_WEBGPU = {
  summary: 'This browser has no WebGPU, so the model cannot run on this device.',
  action: 'Open this page in a recent Chrome or Edge (or another browser with WebGPU turned on), or choose a hosted provider: your prompt is then sent to it.',
};

function providerName(e: ErrorLike): string {
  return PROVIDER_NAMES[e.provider ?? ''] ?? (e.provider || 'the provider');
}

/** Explains any thrown value, by its class (`name`) and `reason`. */
export function explainError(error: unknown): ErrorExplanation {
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
  const detail = e.message ?? String(error);
  const out = (summary: string, action: string, extra: Partial<ErrorExplanation> = {}): ErrorExplanation => ({ summary, action, detail, ...extra });
  switch (e.name) {
    case 'AbortedError':
      return out('Cancelled.', 'Nothing was lost: model files downloaded so far stay stored, and the next try resumes.');
    case 'InvalidParameterError': {
      const base = (e.field ?? '').replace(/^--/, '').replace(/[[.].*$/, '');
      const what = FIELD_NAMES[base] ?? `“${e.field}”`;
      switch (e.reason) {
        case 'no-text-encoders':
          return out('This model package cannot read text prompts.', 'Choose a package with text encoders (the demo and the real FLUX.1 [schnell] packages have them).');
        case 'no-provider':
          return out('No hosted provider is set up.', 'Add one in the provider settings, or choose to run on this device.');
        case 'secret':
          return out('An API key may not be put where visitors can read it.', 'Use a proxy on your server as the provider URL, or set the key from script.');
        case 'provider-limit':
          return out(`${what} is not possible with this provider: it must be ${e.allowed ?? 'different'}.`, 'Change it, or turn off strict mode to let the provider pick the nearest value.');
        case 'unknown-field':
          return out(`“${e.field}” is not a setting here.`, 'Check the spelling of the setting.');
        default:
          return out(`${what} must be ${e.allowed ?? 'valid'}.`, 'Change it and try again.');
      }
    }
    case 'DeviceCapabilityError':
      switch (e.reason) {
        case 'no-webgpu':
        case 'no-adapter':
        case 'device-refused':
          return out(NO_WEBGPU.summary, NO_WEBGPU.action, { noWebGpu: true });
        case 'size-too-large':
          return out('This device’s GPU is too small for this request.', 'Try a smaller width and height, or allow a hosted provider.');
        case 'gpu-memory':
          return out('This device’s GPU does not have enough free memory for the model, even loading it one part at a time.', 'Close other tabs or apps that use the GPU, try a smaller size, or allow a hosted provider (your prompt is then sent to it).');
        default:
          return out('This device’s GPU is too small for this request.', 'Use a device with a larger GPU, or allow a hosted provider (your prompt is then sent to it).');
      }
    case 'GpuOutOfMemoryError':
      return out('The GPU ran out of memory while running the model, even with the lightest memory plan.', 'Close other tabs or apps that use the GPU, or try a smaller size: a fresh generator starts by itself. Or allow a hosted provider.');
    case 'DeviceLostError':
      return out('The GPU stopped working during the generation (it was reset or ran out of memory).', 'Try again: the generator sets the GPU up anew. A smaller size needs less memory.');
    case 'WorkerCrashedError':
      switch (e.reason) {
        case 'failed-to-start':
          return out('The generator could not start in this browser.', 'Reload the page; if it keeps failing, the site may block its scripts (check its Content-Security-Policy).');
        case 'wasm-abort':
          return out('The generator ran out of memory in this tab.', 'Try again with a smaller size, or close other tabs: a fresh generator starts by itself.');
        default:
          return out('The generator stopped unexpectedly.', 'Try again: a fresh generator starts by itself, and downloaded model files are kept.');
      }
    case 'StorageQuotaError':
      return out('There is not enough browser storage for the model.', 'Free some disk space, or delete stored models or gallery images (Storage), then try again.');
    case 'DownloadError':
      return out('A model file could not be downloaded.', 'Check the connection and try again: the download resumes where it stopped. If it keeps failing, check the model URL.');
    case 'DownloadRetriesExhaustedError':
      return out('A model file kept failing to download, even after several automatic retries.', 'Check the connection and try again later: the files stored so far are kept and the download resumes.');
    case 'LibraryAssetError':
      return out(e.reason === 'wasm' ? 'The generator’s WebAssembly file could not be loaded.' : 'The generator’s worker script could not be loaded.', 'The site must serve the library’s generator.worker.js and .wasm files (or set worker-url / wasm-paths to where they are).');
    case 'IntegrityError':
      return out('A downloaded model file was damaged, so it was thrown away.', 'Try again to fetch it anew.');
    case 'ModelPackageError':
      if (e.reason === 'no-text-encoders') return out('This model package cannot read text prompts.', 'Choose a package with text encoders (the demo and the real FLUX.1 [schnell] packages have them).');
      if (e.reason === 'no-vae-encoder') return out('This model package cannot start from a picture (it has no VAE encoder).', 'Remove the input picture, or convert the model again with this version of flux-webgpu (its packages include the encoder).');
      if (e.reason === 'session-failed') return out('The model could not be prepared on this GPU.', 'Try again; if it keeps failing, this GPU or browser cannot run this package.');
      if (e.reason === 'not-stored') return out('This imported model is not (completely) in this browser’s storage.', 'Import it again: what was converted is kept, and the import resumes.');
      return out('The model package is not usable.', 'Check the model URL: it must point to a folder made by `flux-webgpu convert`.');
    case 'CheckpointError':
      switch (e.reason) {
        case 'missing-file':
          return out('A file the model needs is not in the source.', 'Check the repository, the revision and the file paths of the source.');
        case 'unsupported':
          return out('The source is a model file the converter cannot read.', 'Choose FLUX.1 files: safetensors, or GGUF with Q4_0, Q8_0, F16 or F32 tensors.');
        default:
          return out('The source is not a FLUX.1 checkpoint the converter can read.', 'Check that each reference points to a FLUX.1 [schnell] file of the right part (transformer, T5, VAE).');
      }
    case 'HubError':
      switch (e.reason) {
        case 'gated':
        case 'token-rejected':
        case 'forbidden':
          return out('The Hub refused access to the model repository.', 'Accept the repository’s licence on the Hub and give a token that may read it.');
        case 'rate-limited':
          return out('The Hub is limiting requests from you.', 'Wait a minute and try again: the download resumes.');
        default:
          return out('The model repository, revision or file was not found on the Hub.', 'Check the repository name, the revision and the file.');
      }
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
    case 'ProviderRedirectError':
      return out(`${providerName(e)} redirected the request elsewhere, and the API key is never sent there.`, 'Use the provider’s own API address (or your proxy’s) as the base URL.');
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
    case 'ProviderUnsupportedError':
      return out(`${providerName(e)} cannot start from a picture with its current model.`, 'Remove the input picture, choose a model of that provider that can (the details say which), or run on this device.');
    case 'ProviderProtocolError':
      return out(`${providerName(e)} answered in a way this page does not understand.`, 'Check the provider URL (a proxy must forward the provider’s answers unchanged).');
    case 'ProviderError':
      return out(`${providerName(e)} failed.`, 'Try again, or choose another provider.');
    case 'FluxError':
      if (e.reason === 'not-in-document') return out('The generator is not on the page.', 'Add the element to the page, then generate.');
      if (e.reason === 'disposed') return out('This generator was shut down.', 'Reload the page to start a new one.');
      return out('Something went wrong.', 'Try again; reload the page if it keeps failing.');
    default:
      return out('Something went wrong.', 'Try again; reload the page if it keeps failing.');
  }
}

/** Summary and action in one line (the `error` event's `message`). */
export function errorLine(explained: ErrorExplanation): string {
  return `${explained.summary} ${explained.action}`;
}

/** Where the next generation runs, for the privacy indicator. */
export function routePrivacy(decision: RouteDecision): PrivacyState {
  return decision.onDevice
    ? { where: 'local', title: 'Runs on this device', why: 'Your prompt and images stay in this browser; only the model files are downloaded, once.' }
    : { where: 'remote', title: `Sent to ${decision.label}`, why: `Your prompt leaves this device. ${decision.reason}` };
}

/** The notice beside a route: none, or why a provider is used on a browser without WebGPU. */
export function routeNotice(decision: RouteDecision, webgpu: boolean | undefined): { title: string; text: string } | null {
  return webgpu === false ? { title: NO_WEBGPU.summary, text: `Your prompt will be sent to ${decision.label} instead.` } : null;
}

/**
 * What the indicator and the notice say when no route can be found.
 * @param localOnly whether only this device is allowed
 */
export function routeErrorPresentation(error: unknown, webgpu: boolean | undefined, localOnly: boolean): { explained: ErrorExplanation; noWebGpu: boolean; privacy: PrivacyState; notice: { title: string; text: string } | null } {
  const explained = explainError(error);
  const noWebGpu = Boolean(explained.noWebGpu) || webgpu === false;
  // With no WebGPU the notice explains; the indicator says what the privacy mode allows.
  const why = !noWebGpu
    ? errorLine(explained)
    : localOnly
      ? 'Only this device is allowed (“local-only”), and it cannot run the model. Nothing is sent anywhere.'
      : 'No hosted provider is set up, so there is nowhere else to run it. Nothing is sent anywhere.';
  return { explained, noWebGpu, privacy: { where: 'none', title: 'Cannot generate here yet', why }, notice: noWebGpu ? { title: NO_WEBGPU.summary, text: NO_WEBGPU.action } : null };
}

/** The indicator while a provider works. */
export function remotePrivacy(label: string): PrivacyState {
  return { where: 'remote', title: `Sending to ${label}`, why: 'Your prompt leaves this device and goes to this provider.' };
}

/** The indicator after generating: where it actually ran. */
export function resultPrivacy(result: GenerateResult, label: string): PrivacyState {
  return result.backend === 'local'
    ? { where: 'local', title: 'Made on this device', why: 'Your prompt and image never left this browser.' }
    : { where: 'remote', title: `Made by ${label}`, why: `Your prompt was sent to ${label}. ${result.backendReason}` };
}

/** The line under the image: seed, size, steps, time, where. */
export function resultLine(result: GenerateResult, label: string): string {
  const more = result.images.length > 1 ? ` · ${result.images.length} images` : '';
  const where = result.backend === 'local' ? 'made on this device' : `made by ${label}`;
  return `Seed ${result.seed} · ${result.width}×${result.height} · ${result.steps} step${result.steps === 1 ? '' : 's'} · ${(result.timings.totalMs / 1000).toFixed(1)} s · ${where}${more}`;
}

/** The status line when done, with the result's warnings as sentences. */
export function doneLine(result: GenerateResult): string {
  const notes = result.warnings.map((w) => `${w.charAt(0).toUpperCase()}${w.slice(1)}${/[.!?]$/.test(w) ? '' : '.'}`);
  return [`Done in ${(result.timings.totalMs / 1000).toFixed(1)} s.`, ...notes].join(' ');
}

/** The image's alternative text. */
export function imageAlt(prompt: string): string {
  return `Generated image: “${prompt.slice(0, 160)}”`;
}
