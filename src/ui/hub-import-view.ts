/**
 * The app's "FLUX.1 from Hugging Face" panel: choose a source (the official
 * repository, city96's GGUF files, or any `hf:` reference), see what it costs (bytes to
 * download, bytes stored) and its licences before anything is fetched, confirm, and follow
 * the import (bytes per file and in total, the part being converted, time left). The
 * import runs in a worker of its own; when it is done the app switches to the package.
 *
 * Nothing is requested before the visitor presses a button: "Check sizes" (custom
 * references only) reads the file lists, configs, headers and model cards (a few hundred
 * kB); "Import" starts the download.
 */
import { importedPackageUrl, type HubModelSource } from '../import/hub-model-source.ts';
import { HUB_SOURCES, type KnownHubSource } from '../import/hub-sources.ts';
import { describeImportProgress, type ImportProgressEvent } from '../import/import-progress.ts';
import { importModel, planModelImport } from '../import/model-import.ts';
import { DEFAULTS } from '../defaults.ts';
import type { StoredModel } from '../engine/protocol.ts';
import { formatBytes } from '../format-bytes.ts';
import { errorLine, explainError } from '../widget/presenter.ts';
import { formatEta } from '../widget/progress-tracker.ts';
import { h } from '../widget/dom.ts';
import { settingsStore } from './settings-store.ts';

/** What the panel needs from the app. */
export interface HubImportHost {
  announce(message: string): void;
  /** The models in this browser's storage (null while unknown). */
  listModels(): Promise<StoredModel[]> | null;
  /** Use the imported package (set it as the generator's model). */
  use(packageUrl: string, label: string): void;
  /** The storage listing changed. */
  changed(): void;
}

/** The panel. */
export interface HubImportView {
  element: HTMLElement;
  /** Shows the state of the chosen source (stored, partly imported, or not yet). */
  refresh(): Promise<void>;
}

const CUSTOM = 'custom';
const WEIGHTS = ['q4', 'q8', 'fp16', 'fp32'] as const;

/** "≈ 33.7 GB to download · ≈ 12.5 GB stored in this browser". */
function sizesText(download: number, stored: number, approximate: boolean): string {
  const about = approximate ? '≈ ' : '';
  return `${about}${formatBytes(download)} to download · ${about}${formatBytes(stored)} stored in this browser`;
}

function licenseLine(licenses: { repo: string; license?: string; name?: string }[]): string {
  return `Licence${licenses.length > 1 ? 's' : ''}: ${licenses.map((l) => `${l.name ?? l.license ?? 'not declared'} (${l.repo})`).join('; ')}`;
}

/** Builds the panel. */
export function createHubImportView(host: HubImportHost): HubImportView {
  const saved = settingsStore.hubSource();
  const radios = [...HUB_SOURCES.map((s) => s.id), CUSTOM].map((id) => h('input', { type: 'radio', name: 'hub-source', id: `hub-source-${id}`, value: id }) as HTMLInputElement);
  const choice = saved?.choice ?? 'official';
  for (const radio of radios) radio.checked = radio.value === choice;

  const from = h('input', { id: 'hub-from', type: 'text', spellcheck: 'false', autocomplete: 'off', placeholder: 'hf:owner/name or hf:owner/name@revision', value: saved?.from ?? '' });
  const transformer = h('input', { id: 'hub-transformer', type: 'text', spellcheck: 'false', autocomplete: 'off', placeholder: 'optional: hf:owner/name/file.gguf', value: saved?.transformer ?? '' });
  const textEncoder2 = h('input', { id: 'hub-text-encoder-2', type: 'text', spellcheck: 'false', autocomplete: 'off', placeholder: 'optional: hf:owner/name/t5-file.gguf', value: saved?.textEncoder2 ?? '' });
  const weights = h('select', { id: 'hub-weights' }, ...WEIGHTS.map((w) => h('option', { value: w }, w)));
  weights.value = saved?.weights ?? 'q4';
  const custom = h('div', { class: 'hub-custom', id: 'hub-custom' },
    h('label', { for: 'hub-from' }, 'Repository (diffusers layout)', from),
    h('label', { for: 'hub-transformer' }, 'Transformer file (replaces the repository’s)', transformer),
    h('label', { for: 'hub-text-encoder-2' }, 'T5 file (replaces the repository’s)', textEncoder2),
    h('label', { for: 'hub-weights' }, 'Weights', weights));

  const token = h('input', { id: 'hub-token', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: settingsStore.hubToken() ? 'token saved in this browser' : 'hf_…' });
  const forgetToken = h('button', { type: 'button', class: 'secondary small', id: 'hub-token-forget', hidden: !settingsStore.hubToken() }, 'Forget the token');
  const hubUrl = h('input', { id: 'hub-url', type: 'url', spellcheck: 'false', autocomplete: 'off', value: saved?.hubUrl ?? DEFAULTS.hubUrl });

  const sizes = h('p', { id: 'hub-sizes', 'aria-live': 'polite' });
  const licenses = h('p', { id: 'hub-licenses', class: 'hint' });
  const state = h('p', { id: 'hub-state', class: 'hint' });
  const check = h('button', { type: 'button', class: 'secondary', id: 'hub-check' }, 'Check sizes and licence');
  const start = h('button', { type: 'button', id: 'hub-import-start' }, 'Import');
  const use = h('button', { type: 'button', id: 'hub-use', hidden: true }, 'Use this model');
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'hub-cancel', hidden: true }, 'Stop');
  const bar = h('progress', { id: 'hub-progress', max: 1, hidden: true });
  const status = h('p', { id: 'hub-status', role: 'status', 'aria-live': 'polite' });
  const fileList = h('ul', { id: 'hub-files', class: 'hub-files' });
  const error = h('p', { id: 'hub-error', class: 'form-error', role: 'alert', hidden: true });

  const options = HUB_SOURCES.map((s, i) => h('div', { class: 'hub-option' },
    h('label', { for: radios[i].id }, radios[i], h('strong', {}, s.name)),
    h('p', { class: 'hint' }, `${s.description} ${sizesText(s.downloadBytes, s.storedBytes, true)}. ${licenseLine(s.licenses)}.`)));
  const element = h('section', { class: 'panel hub-import', id: 'hub-import', 'aria-labelledby': 'hub-import-title' },
    h('h2', { id: 'hub-import-title' }, 'FLUX.1 from Hugging Face'),
    h('p', { class: 'hint' }, 'This page downloads the published files straight from Hugging Face and converts them here, into this browser’s storage; after that the model works offline. Nothing is fetched until you press a button.'),
    h('fieldset', { class: 'hub-sources' },
      h('legend', {}, 'Source'),
      ...options,
      h('div', { class: 'hub-option' }, h('label', { for: radios.at(-1)!.id }, radios.at(-1)!, h('strong', {}, 'Another hf: reference')), custom)),
    h('label', { for: 'hub-token' }, 'Access token (optional: for gated or private repositories)', token),
    h('p', { class: 'hint' }, 'Kept only in this browser and sent only to the Hub, in a header — never to the file host, never in a URL.'),
    forgetToken,
    h('details', {}, h('summary', {}, 'Hub address'), h('label', { for: 'hub-url' }, 'Hub URL (a mirror speaking the Hub’s protocol)', hubUrl)),
    sizes,
    licenses,
    state,
    h('div', { class: 'actions' }, check, start, use, cancel),
    bar,
    status,
    fileList,
    error);

  const chosen = () => radios.find((r) => r.checked)?.value ?? 'official';
  const known = (): KnownHubSource | undefined => HUB_SOURCES.find((s) => s.id === chosen());
  /** The source to import, with the Hub URL and the token. */
  const sourceOf = (): HubModelSource => {
    const base: HubModelSource = known()?.source ?? {
      from: from.value.trim(),
      ...(transformer.value.trim() ? { transformer: transformer.value.trim() } : {}),
      ...(textEncoder2.value.trim() ? { textEncoder2: textEncoder2.value.trim() } : {}),
      weights: weights.value as HubModelSource['weights'],
    };
    const tokenValue = token.value.trim() || settingsStore.hubToken();
    return { ...base, hubUrl: hubUrl.value.trim() || DEFAULTS.hubUrl, ...(tokenValue ? { token: tokenValue } : {}) };
  };
  const remember = () => settingsStore.setHubSource({ choice: chosen(), from: from.value.trim(), transformer: transformer.value.trim(), textEncoder2: textEncoder2.value.trim(), weights: weights.value, hubUrl: hubUrl.value.trim() });

  let running: AbortController | undefined;
  /** Shows what failed (the presenter's words, by class and reason) and the error's own detail. */
  const showError = (failure: unknown) => {
    error.hidden = failure === null;
    if (failure === null) return error.replaceChildren();
    const explained = explainError(failure);
    error.replaceChildren(errorLine(explained), h('br'), h('small', {}, explained.detail));
  };
  const busy = (on: boolean) => {
    for (const control of [...radios, from, transformer, textEncoder2, weights, token, hubUrl, check, start]) control.disabled = on;
    cancel.hidden = !on;
  };

  /** What "Check sizes and licence" found for a custom source. */
  let checked: { packageUrl: string; sizes: string; licenses: string } | undefined;

  /** Sizes, licences and the stored state of the chosen source's package. */
  const refresh = async (clearError = true) => {
    const isCustom = chosen() === CUSTOM;
    custom.hidden = !isCustom;
    check.hidden = !isCustom;
    if (clearError) showError(null);
    let packageUrl: string | undefined;
    try {
      packageUrl = importedPackageUrl(sourceOf());
    } catch {
      packageUrl = undefined;
    }
    const entry = known();
    if (entry) {
      sizes.textContent = sizesText(entry.downloadBytes, entry.storedBytes, true);
      const gated = entry.gated ? ' The repository is gated: accept its licence on huggingface.co, then give an access token below.' : '';
      licenses.textContent = `${licenseLine(entry.licenses)}. By importing you accept ${entry.licenses.length > 1 ? 'these licences' : 'this licence'}.${gated}`;
    } else if (checked && checked.packageUrl === packageUrl) {
      sizes.textContent = checked.sizes;
      licenses.textContent = checked.licenses;
    } else {
      sizes.textContent = 'Sizes and licences are read from the Hub when you press “Check sizes and licence” (file lists, configs and headers: a few hundred kB).';
      licenses.textContent = '';
    }
    const stored = packageUrl ? (await host.listModels()?.catch(() => null))?.find((m) => m.packageUrl === packageUrl) : undefined;
    use.hidden = !stored?.complete;
    start.textContent = stored?.complete ? 'Imported' : stored ? 'Resume the import' : 'Import';
    start.disabled = Boolean(stored?.complete) || running !== undefined;
    state.textContent = stored?.complete
      ? `Stored in this browser (${formatBytes(stored.bytesStored)}).`
      : stored
        ? `An import of this source stopped after ${formatBytes(stored.bytesStored)}: it resumes with what was converted.`
        : '';
  };

  const runCheck = async () => {
    remember();
    showError(null);
    busy(true);
    cancel.hidden = true;
    sizes.textContent = 'Reading the file lists, configs and headers…';
    try {
      const plan = await planModelImport(sourceOf());
      checked = {
        packageUrl: plan.packageUrl,
        sizes: sizesText(plan.downloadBytes, plan.storedBytes, false) + (plan.resumableBytes ? ` (${formatBytes(plan.resumableBytes)} already imported)` : ''),
        licenses: `${licenseLine(plan.licenses)}. By importing you accept ${plan.licenses.length > 1 ? 'these licences' : 'this licence'}.`,
      };
    } catch (e) {
      checked = undefined;
      showError(e);
    } finally {
      busy(false);
      await refresh(false);
    }
  };

  const runImport = async () => {
    remember();
    const typed = token.value.trim();
    if (typed) {
      settingsStore.setHubToken(typed);
      token.value = '';
      token.placeholder = 'token saved in this browser';
      forgetToken.hidden = false;
    }
    showError(null);
    running = new AbortController();
    busy(true);
    bar.hidden = false;
    bar.removeAttribute('value');
    status.textContent = 'Starting…';
    fileList.replaceChildren();
    const source = sourceOf();
    try {
      const result = await importModel(source, { signal: running.signal, onProgress: (event) => show(event) });
      const label = known()?.name ?? source.from;
      status.textContent = `Imported: ${formatBytes(result.packageBytes)} stored${result.graphsKept ? ` (${result.graphsKept} parts kept from the earlier import)` : ''}.`;
      bar.value = 1;
      host.announce('The model is imported and ready.');
      host.use(result.packageUrl, label);
    } catch (e) {
      bar.hidden = true;
      status.textContent = '';
      showError(e);
    } finally {
      running = undefined;
      busy(false);
      // The generator switches to the imported model in a microtask: list through it after that.
      await new Promise((resolve) => setTimeout(resolve));
      host.changed();
      await refresh(false);
    }
  };

  /** Shows one progress event. */
  const show = (event: ImportProgressEvent) => {
    const view = describeImportProgress(event, formatBytes);
    const eta = view.etaMs === undefined ? '' : ` · ${formatEta(view.etaMs)}`;
    status.textContent = `${view.stage}${view.detail ? ` · ${view.detail}` : ''}${eta}`;
    if (view.fraction === null) bar.removeAttribute('value');
    else bar.value = view.fraction;
    if (event.total > 0) {
      fileList.replaceChildren(...event.files.filter((f) => f.total > 0).map((f) => h('li', { 'data-file': f.file }, `${f.file.replace(/^hf:/, '')}: ${formatBytes(f.loaded)} of ${formatBytes(f.total)}`)));
    }
  };

  for (const radio of radios) radio.addEventListener('change', () => void refresh());
  for (const input of [from, transformer, textEncoder2, weights, hubUrl]) input.addEventListener('change', () => void refresh());
  check.addEventListener('click', () => void runCheck());
  start.addEventListener('click', () => void runImport());
  cancel.addEventListener('click', () => running?.abort());
  use.addEventListener('click', () => {
    const source = sourceOf();
    host.use(importedPackageUrl(source), known()?.name ?? source.from);
  });
  forgetToken.addEventListener('click', () => {
    settingsStore.setHubToken(undefined);
    token.placeholder = 'hf_…';
    forgetToken.hidden = true;
    host.announce('The access token was removed from this browser.');
  });
  void refresh();
  return { element, refresh: () => refresh() };
}
