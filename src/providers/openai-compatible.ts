/**
 * OpenAI-compatible image gateways (Together, Lumenfall, DeepInfra, …):
 * `POST {base}/v1/images/generations` with a bearer key, body {model, prompt, n,
 * size "WxH", response_format}; answers `data[].b64_json` or `data[].url`. A `baseUrl`
 * whose path already has a `/v1` segment (as OpenAI SDKs take it) gets
 * `/images/generations` appended instead. `seed` and `steps` are sent only with
 * `sendSeedAndSteps` (the OpenAI API has no such fields).
 */
import { asRecord, asSeed, HostedProvider, type ProviderOutput, type ProviderPlan } from './hosted-provider.ts';
import type { ValidRequest } from '../request.ts';
import type { FetchedImage, ProviderSettings, RemoteCall } from './remote-call.ts';
import { decodeBase64 } from './image-bytes.ts';
import { Adjustments, requestedSeed, requestedSteps, sizeText } from './request-mapping.ts';

interface OpenAIPlan extends ProviderPlan {
  body: Record<string, unknown>;
}

/** The images endpoint for a gateway's base URL. */
export function openAIImagesEndpoint(baseUrl: string): string {
  let path = '';
  try {
    path = new URL(baseUrl).pathname;
  } catch {
    // An invalid URL fails at fetch time with a typed error.
  }
  return /(^|\/)v1(\/|$)/.test(path) ? `${baseUrl}/images/generations` : `${baseUrl}/v1/images/generations`;
}

/** The OpenAI-compatible provider. */
export class OpenAICompatibleProvider extends HostedProvider<OpenAIPlan> {
  constructor(
    settings: ProviderSettings,
    private readonly responseFormat: 'url' | 'b64_json' | 'base64' = 'b64_json',
    private readonly sendSeedAndSteps = false,
  ) {
    super(settings);
  }

  protected plan(request: ValidRequest, model: string, adjust: Adjustments): OpenAIPlan {
    const size = { width: request.width, height: request.height };
    const body: Record<string, unknown> = { model, prompt: request.prompt, n: request.numImages, size: sizeText(size), response_format: this.responseFormat };
    const why = 'the OpenAI images API has no such field; set sendSeedAndSteps for gateways that take it';
    const seed = requestedSeed(request);
    const steps = requestedSteps(request);
    if (seed !== undefined) {
      if (this.sendSeedAndSteps) body.seed = seed;
      else adjust.unsupported('seed', seed, why);
    }
    if (steps !== undefined) {
      if (this.sendSeedAndSteps) body.steps = steps;
      else adjust.unsupported('steps', steps, why);
    }
    // Gateways that take extra fields (Lumenfall) read the guidance as `cfg_scale`.
    if (request.guidance !== undefined) {
      if (this.sendSeedAndSteps) body.cfg_scale = request.guidance;
      else adjust.unsupported('guidance', request.guidance, why);
    }
    return { model, size, format: undefined, seed: this.sendSeedAndSteps ? seed : undefined, body };
  }

  protected async run(call: RemoteCall, plan: OpenAIPlan): Promise<ProviderOutput> {
    call.progress('submitting', { detail: 'synchronous: the answer comes with the images' });
    const answer = asRecord((await call.json('POST', openAIImagesEndpoint(this.settings.baseUrl), 'submit', plan.body)).data) ?? {};
    if (!Array.isArray(answer.data) || answer.data.length === 0) throw this.protocolError('data', 'the list of generated images');
    const items = answer.data.map((item) => asRecord(item) ?? {});
    const images: FetchedImage[] = [];
    for (const [i, item] of items.entries()) {
      if (typeof item.b64_json === 'string' && item.b64_json) {
        let bytes: Uint8Array;
        try {
          bytes = decodeBase64(item.b64_json);
        } catch {
          throw this.protocolError(`data[${i}].b64_json`, 'valid base64');
        }
        images.push(call.imageFromBytes(bytes, i));
      } else {
        const field = this.responseFormat === 'url' ? `data[${i}].url` : `data[${i}].b64_json`;
        images.push(await call.image(this.requireUrl(item.url, field, 'the image', true), i, items.length));
      }
    }
    return { images, seed: asSeed(answer.seed) };
  }
}
