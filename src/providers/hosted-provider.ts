/**
 * What every hosted provider shares: check the request, let the provider plan its own
 * body (adjusting or refusing values), run the remote call under one deadline and
 * signal, and assemble the result from what actually came back.
 */
import type { OutputFormat } from '../api-types.ts';
import { ProviderProtocolError } from '../errors.ts';
import { checkCallOptions, validateRequest, type ValidRequest } from '../request.ts';
import type { ImageEngine, ProviderGenerateOptions, ProviderRequest, ProviderResult } from './image-engine.ts';
import { Adjustments, sizeText, type Size } from './request-mapping.ts';
import { runRemoteCall, type FetchedImage, type ProviderSettings, type RemoteCall } from './remote-call.ts';

/** What a provider decided to send. */
export interface ProviderPlan {
  /** The model to run. */
  model: string;
  /** The size asked of the provider; undefined where it picks the size itself (e.g. from an aspect ratio). */
  size?: Size;
  /** The format asked of the provider; undefined where it offers no choice. */
  format?: OutputFormat;
  /** The seed sent (undefined: none sent). */
  seed?: number;
}

/** What a provider's run returns. */
export interface ProviderOutput {
  images: FetchedImage[];
  /** The first image's seed as the provider reported it. */
  seed?: number;
  /** What the provider reported that the caller should know (e.g. an image blacked out by a safety checker). */
  notes?: string[];
}

/** Base class of the hosted providers. */
export abstract class HostedProvider<P extends ProviderPlan> implements ImageEngine {
  readonly id: string;
  readonly label: string;

  constructor(readonly settings: ProviderSettings) {
    this.id = settings.id;
    this.label = settings.label;
  }

  async generate(params: ProviderRequest | ValidRequest, options: ProviderGenerateOptions = {}): Promise<ProviderResult> {
    const request = validateRequest(params, { sizes: 'provider' });
    checkCallOptions(options ?? {});
    this.preflight();
    const adjust = new Adjustments(this.label, this.settings.strict);
    const plan = this.plan(request, request.model ?? this.settings.model, adjust);
    const consumed = this.consumedExtras();
    adjust.extraFields(this.requestBodies(plan), request.providerOptions && Object.fromEntries(Object.entries(request.providerOptions).filter(([key]) => !consumed.includes(key))));
    return runRemoteCall(this.settings, options, async (call) => {
      const output = await this.run(call, plan, request);
      return this.assemble(request, plan, output, adjust);
    });
  }

  /** The request bodies the caller's extra fields go into (default the plan's `body`). */
  protected requestBodies(plan: P): Record<string, unknown>[] {
    const body = (plan as { body?: unknown }).body;
    return body && typeof body === 'object' ? [body as Record<string, unknown>] : [];
  }

  /** Fields of `providerOptions` the provider's plan maps itself (its own presets), so they are not added as they are. */
  protected consumedExtras(): readonly string[] {
    return [];
  }

  /** Checks made before anything is sent (e.g. CORS in a browser). */
  protected preflight(): void {}

  /** Maps the request to the provider's fields, recording (or, strict, refusing) adjustments. */
  protected abstract plan(request: ValidRequest, model: string, adjust: Adjustments): P;

  /** Submits, waits, and fetches the images. */
  protected abstract run(call: RemoteCall, plan: P, request: ValidRequest): Promise<ProviderOutput>;

  /** Throws ProviderProtocolError naming `field` (what the provider's answer lacked). */
  protected protocolError(field: string, what: string, status?: number): ProviderProtocolError {
    return new ProviderProtocolError(`${this.label}'s answer has no usable ${field} (${what}). The provider's API may have changed, or baseUrl points at something else.`, this.id, field, status);
  }

  /** A required non-empty string of the provider's answer, or a ProviderProtocolError naming `field`. */
  protected requireString(value: unknown, field: string, what: string, status?: number): string {
    if (typeof value === 'string' && value.length > 0) return value;
    throw this.protocolError(field, what, status);
  }

  /**
   * A required URL of the provider's answer, resolved against baseUrl (a proxy may answer
   * with relative URLs); only http(s), and data: where `allowData` (inline images).
   */
  protected requireUrl(value: unknown, field: string, what: string, allowData = false): string {
    const text = this.requireString(value, field, what);
    let url: URL;
    try {
      url = new URL(text, `${this.settings.baseUrl}/`);
    } catch {
      throw this.protocolError(field, `${what}, as a valid URL`);
    }
    if (url.protocol === 'http:' || url.protocol === 'https:' || (allowData && url.protocol === 'data:')) return url.href;
    throw this.protocolError(field, `${what}, as an http(s) URL (got a ${url.protocol} URL)`);
  }

  /** Fetches image URLs one after another (each at once: signed URLs expire). */
  protected async fetchImages(call: RemoteCall, urls: string[]): Promise<FetchedImage[]> {
    const images: FetchedImage[] = [];
    for (const [i, url] of urls.entries()) images.push(await call.image(url, i, urls.length));
    return images;
  }

  private assemble(request: ValidRequest, plan: P, output: ProviderOutput, adjust: Adjustments): ProviderResult {
    if (output.images.length === 0) throw this.protocolError('images', 'no image came back');
    for (const note of output.notes ?? []) adjust.inform(note);
    const first = output.images[0].info;
    const asked = plan.size;
    const width = first.width || asked?.width || request.width;
    const height = first.height || asked?.height || request.height;
    if (first.width && first.height) {
      const actual = { width: first.width, height: first.height };
      const expected = asked ?? { width: request.width, height: request.height };
      if (actual.width !== expected.width || actual.height !== expected.height) {
        adjust.inform(asked ? `${this.label} made ${sizeText(actual)} images, not the ${sizeText(asked)} asked for` : `size ${sizeText(expected)} → ${sizeText(actual)} (chosen by ${plan.model})`);
      }
    }
    const askedFormat = plan.format ?? request.outputFormat;
    const formats = new Set(output.images.map((image) => image.info.format).filter((format) => format !== askedFormat));
    for (const format of formats) {
      adjust.inform(`${this.label} returned ${format}, not ${askedFormat}${plan.format === undefined ? ' (it offers no format choice)' : ''}`);
    }
    if (output.images.length < request.numImages) {
      adjust.inform(`${this.label} returned ${output.images.length} of ${request.numImages} images (the others were withheld, e.g. by its safety checker)`);
    }
    return {
      images: output.images.map((image) => image.blob),
      seed: output.seed ?? plan.seed,
      width,
      height,
      model: plan.model,
      adjustments: adjust.notes,
      provider: this.id,
    };
  }
}

/** `value` as a record (object), or undefined. */
export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** `value` as an integer seed, or undefined. */
export function asSeed(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : undefined;
}
