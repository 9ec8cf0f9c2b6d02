/**
 * The app's "Hosted providers" section: add a provider (kind, API key, proxy URL, model),
 * see the saved ones, remove them. Explains, before saving, what each choice means: which
 * providers a web page may call directly (CORS), that Replicate needs a proxy, and when
 * this site's Content-Security-Policy would block the URL.
 */
import { PROVIDER_INFO, type ProviderKind } from '../providers/index.ts';
import type { PrivacyMode } from '../routing.ts';
import { connectAllowed } from './csp.ts';
import { h } from '../widget/dom.ts';
import { settingsStore, type SavedProvider } from './settings-store.ts';

/** What the section needs from the app. */
export interface ProviderSettingsHost {
  /** Called with the new list after every change. */
  onChange(list: SavedProvider[]): void;
  privacy(): PrivacyMode;
  setPrivacy(mode: PrivacyMode): void;
}

/** The section and what the app may do with it. */
export interface ProviderSettings {
  element: HTMLElement;
  /** Moves keyboard focus to the first field (e.g. from the "no WebGPU" banner). */
  focus(): void;
  /** Updates the hint about the privacy mode (after the mode changed elsewhere). */
  refresh(): void;
}

const KINDS = Object.keys(PROVIDER_INFO) as ProviderKind[];

/** Why a provider may or may not be called from this page, in words. */
export function corsExplanation(kind: ProviderKind, baseUrl: string): { text: string; blocking: boolean } {
  const info = PROVIDER_INFO[kind];
  if (baseUrl) return { text: `Requests go to ${baseUrl} (your proxy or the provider's API), with the key in a header if you give one.`, blocking: false };
  switch (info.cors) {
    case 'yes':
      return { text: `${info.label} allows calls from web pages: the key goes from this browser straight to ${info.defaultBaseUrl}.`, blocking: false };
    case 'no':
      return {
        text: `${info.label} cannot be called from a web page: its API sends no CORS headers, so every browser blocks the call. Put a small proxy on your own server that forwards to ${info.defaultBaseUrl} (and adds your key there), and enter its URL as the base URL.`,
        blocking: true,
      };
    default:
      return {
        text: info.defaultBaseUrl
          ? `${info.label} does not document whether web pages may call it. If the browser blocks it, you will be told; then use a proxy on your own server as the base URL.`
          : `Enter the base URL of your ${info.label} (e.g. https://api.together.xyz).`,
        blocking: !info.defaultBaseUrl,
      };
  }
}

/** Builds the section. */
export function createProviderSettings(host: ProviderSettingsHost): ProviderSettings {
  let list = settingsStore.providers();

  const kind = h('select', { id: 'provider-kind', name: 'provider-kind' }, ...KINDS.map((k) => h('option', { value: k }, PROVIDER_INFO[k].label)));
  const apiKey = h('input', { id: 'provider-key', name: 'provider-key', type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'provider-key-hint' });
  const baseUrl = h('input', { id: 'provider-base-url', name: 'provider-base-url', type: 'url', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'provider-cors' });
  const model = h('input', { id: 'provider-model', name: 'provider-model', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const cors = h('p', { id: 'provider-cors', class: 'hint', 'aria-live': 'polite' });
  const formError = h('p', { id: 'provider-error', class: 'form-error', role: 'alert', hidden: true });
  const save = h('button', { type: 'submit', id: 'provider-save' }, 'Save provider');
  const saved = h('ul', { class: 'provider-list', id: 'provider-list', 'aria-label': 'Saved providers' });
  const privacyHint = h('div', { class: 'callout', id: 'provider-privacy-hint', hidden: true });

  const form = h('form', { class: 'provider-form', id: 'provider-form', novalidate: true, autocomplete: 'off', 'aria-labelledby': 'providers-title' },
    h('label', { for: 'provider-kind' }, 'Provider', kind),
    h('label', { for: 'provider-key' }, 'API key', apiKey),
    h('p', { id: 'provider-key-hint', class: 'hint' }, 'Kept only in this browser (localStorage) and sent only to this provider or your proxy, in a header. Leave it empty when your proxy adds the key.'),
    h('label', { for: 'provider-base-url' }, 'Base URL (optional: your proxy)', baseUrl),
    cors,
    h('label', { for: 'provider-model' }, 'Model (optional)', model),
    formError,
    h('div', { class: 'actions' }, save));

  const element = h('section', { class: 'panel', id: 'providers', 'aria-labelledby': 'providers-title' },
    h('h2', { id: 'providers-title' }, 'Hosted providers'),
    h('p', { class: 'hint' }, 'Optional. For devices that cannot run the model, or if you prefer a hosted service. A prompt goes to a provider only when “Where it runs” allows it, and the page always shows where it goes.'),
    saved,
    privacyHint,
    form);

  const updateHints = () => {
    const k = kind.value as ProviderKind;
    const info = PROVIDER_INFO[k];
    baseUrl.placeholder = info.defaultBaseUrl ?? 'https://gateway.example.com';
    model.placeholder = info.defaultModel;
    cors.textContent = corsExplanation(k, baseUrl.value.trim()).text;
    cors.classList.toggle('warning', corsExplanation(k, baseUrl.value.trim()).blocking);
  };

  const showError = (message: string | null, field?: HTMLElement) => {
    formError.hidden = !message;
    formError.textContent = message ?? '';
    for (const input of [apiKey, baseUrl, model]) input.removeAttribute('aria-invalid');
    if (message && field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  };

  const renderPrivacyHint = () => {
    const mode = host.privacy();
    privacyHint.hidden = !(list.length && mode === 'local-only');
    if (privacyHint.hidden) return privacyHint.replaceChildren();
    privacyHint.replaceChildren(
      h('p', {}, '“Where it runs” is set to “Only this device”, so providers are not used.'),
      h('button', { type: 'button', class: 'secondary', id: 'allow-provider', onclick: () => host.setPrivacy('prefer-local') }, 'Use a provider when this device cannot'),
    );
  };

  const renderList = () => {
    saved.replaceChildren(...(list.length
      ? list.map((p, index) => {
        const info = PROVIDER_INFO[p.kind];
        const where = p.baseUrl || info.defaultBaseUrl || '';
        return h('li', { class: 'provider-item', 'data-kind': p.kind },
          h('span', {}, h('strong', {}, `${index + 1}. ${info.label}`), h('span', { class: 'hint' }, ` · ${where}${p.apiKey ? ' · key saved in this browser' : ' · no key (proxy adds it)'}${p.model ? ` · ${p.model}` : ''}`)),
          h('button', { type: 'button', class: 'secondary small', 'aria-label': `Remove ${info.label}${index ? ` (${index + 1})` : ''}`, onclick: () => {
            list = list.filter((x) => x.id !== p.id);
            commit();
            kind.focus();
          } }, 'Remove'));
      })
      : [h('li', { class: 'hint' }, 'No provider saved: everything runs on this device.')]));
  };

  const commit = () => {
    settingsStore.setProviders(list);
    renderList();
    renderPrivacyHint();
    host.onChange(list);
  };

  kind.addEventListener('change', updateHints);
  baseUrl.addEventListener('input', updateHints);
  form.addEventListener('submit', (event) => {
    event.preventDefault(); // never a real submission: the key must not end up in a URL
    const k = kind.value as ProviderKind;
    const info = PROVIDER_INFO[k];
    const url = baseUrl.value.trim();
    const key = apiKey.value.trim();
    if (url) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(url, document.baseURI);
      } catch {
        parsed = undefined;
      }
      if (!parsed || !/^https?:$/.test(parsed.protocol)) return showError('The base URL must be an http(s) URL, e.g. https://example.com/proxy/bfl.', baseUrl);
      if (parsed.username || parsed.password) return showError('The base URL must not contain a user name or password: give the key in the API key field.', baseUrl);
    }
    const explanation = corsExplanation(k, url);
    if (explanation.blocking) return showError(explanation.text, baseUrl);
    const target = url || info.defaultBaseUrl!;
    if (!connectAllowed(target)) {
      return showError(`This site’s Content-Security-Policy does not allow connections to ${new URL(target, document.baseURI).origin}, so the browser would block it. The site’s owner can allow it (connect-src), or you can use a proxy on this site.`, baseUrl);
    }
    if (key && !/^[\x21-\x7e]+$/.test(key)) return showError('The API key must be printable text without spaces.', apiKey);
    if (!key && !url) return showError(`Enter your ${info.label} API key, or the URL of a proxy that adds it.`, apiKey);
    showError(null);
    list = [...list, { id: crypto.randomUUID(), kind: k, apiKey: key || undefined, baseUrl: url || undefined, model: model.value.trim() || undefined }];
    apiKey.value = '';
    baseUrl.value = '';
    model.value = '';
    updateHints();
    commit();
  });

  updateHints();
  renderList();
  renderPrivacyHint();
  return { element, focus: () => kind.focus(), refresh: renderPrivacyHint };
}
