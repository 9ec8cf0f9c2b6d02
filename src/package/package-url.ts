/**
 * The one way a model package URL is normalised: it is the key under which the weight
 * store keeps a package, the worker a package is loaded in, and the base its files are
 * fetched from.
 */
import { InvalidParameterError } from '../errors.ts';

/**
 * The package URL made absolute (against `base`, default the page's or worker's
 * location), without query or fragment, without a trailing `manifest.json`, ending in "/".
 * @param url the package folder or its manifest.json, absolute or relative
 * @param field the name to report when `url` is not a URL (default "model")
 * @throws InvalidParameterError (reason `malformed`) when `url` cannot be parsed, `wrong-type` when it is not text
 */
export function packageUrlOf(url: string, base: string | undefined = globalThis.location?.href, field = 'model'): string {
  if (typeof url !== 'string') throw new InvalidParameterError(field, 'the URL of a web model package (text)', url, 'wrong-type');
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new InvalidParameterError(field, 'the URL of a web model package (absolute, or relative to the page)', url, 'malformed');
  }
  // flux-import: packages imported in the page (src/import/hub-model-source.ts), kept only in the weight store.
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:' && parsed.protocol !== 'file:' && parsed.protocol !== 'blob:' && parsed.protocol !== 'flux-import:') {
    throw new InvalidParameterError(field, 'an http(s) URL of a web model package', url, 'malformed');
  }
  parsed.hash = '';
  parsed.search = '';
  if (parsed.pathname.endsWith('/manifest.json')) parsed.pathname = parsed.pathname.slice(0, -'manifest.json'.length);
  if (!parsed.pathname.endsWith('/')) parsed.pathname += '/';
  return parsed.href;
}
