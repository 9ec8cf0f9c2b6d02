/**
 * Test page of test/browser/provider-network.test.ts: hosted providers called from a real
 * page (src/ served by Vite), and one `<flux-generator>` widget using a provider. Exposes
 * `window.providerNetworkTest`, whose functions take and return plain JSON.
 */
import * as errors from '../../../src/errors.ts';
import { createProvider, type AnyProviderConfig, type ProviderProgressEvent, type ProviderRequest } from '../../../src/providers/index.ts';
import '../../../src/widget/index.ts';

/** An error as plain JSON: name, message, stack, own fields, and the classes it is an instance of. */
function describeError(error: unknown) {
  const e = error as Error & Record<string, unknown>;
  const classes = ['ProviderError', 'ProviderCorsError', 'ProviderNetworkError', 'ProviderRedirectError', 'ProviderAuthError', 'RateLimitedError'] as const;
  return {
    name: e?.name,
    message: e?.message,
    stack: e?.stack ?? '',
    fields: JSON.parse(JSON.stringify({ ...e })) as Record<string, unknown>,
    instanceOf: Object.fromEntries(classes.map((c) => [c, error instanceof errors[c]])) as Record<(typeof classes)[number], boolean>,
  };
}

const request = (overrides: Partial<ProviderRequest> = {}): ProviderRequest => ({ prompt: 'a red fox in the snow', width: 1024, height: 768, numImages: 1, outputFormat: 'png', ...overrides });

const api = {
  /** One generation through a provider: the result's size, or the error; and every progress event. */
  async generate(config: AnyProviderConfig) {
    const events: ProviderProgressEvent[] = [];
    try {
      const result = await createProvider(config).generate(request(), { onProgress: (event) => events.push(event) });
      return { ok: true as const, images: result.images.length, events };
    } catch (error) {
      return { ok: false as const, error: describeError(error), events };
    }
  },

  /**
   * The widget with `providers` set from script (as the README says, for keys): generates,
   * and returns the `error` event's detail, the element's text (shadow DOM included) and
   * what generate() rejected with.
   */
  async widget(config: AnyProviderConfig) {
    const element = document.createElement('flux-generator') as HTMLElement & { providers: unknown; generate(p: object): Promise<unknown> };
    element.setAttribute('privacy', 'remote-only');
    element.providers = [config];
    const details: unknown[] = [];
    element.addEventListener('error', (event) => {
      const detail = (event as unknown as CustomEvent).detail as Record<string, unknown>;
      details.push({ ...detail, error: describeError(detail.error) });
    });
    const progress: unknown[] = [];
    element.addEventListener('progress', (event) => progress.push((event as unknown as CustomEvent).detail));
    document.body.append(element);
    let rejected: unknown = null;
    try {
      await element.generate({ prompt: 'a red fox in the snow', width: 512, height: 512 });
    } catch (error) {
      rejected = describeError(error);
    }
    const text = `${element.shadowRoot?.innerHTML ?? ''}\n${element.outerHTML}\n${document.body.innerText}`;
    element.remove();
    return { rejected, details: JSON.parse(JSON.stringify(details)) as unknown[], progress: JSON.parse(JSON.stringify(progress)) as unknown[], text };
  },
};

declare global {
  interface Window {
    providerNetworkTest: typeof api;
  }
}
window.providerNetworkTest = api;
