/** Fetching and checking a package's manifest.json (the first and smallest request). */
import { DownloadError, ModelPackageError } from '../errors.ts';
import { parseManifest, type Manifest } from '../package/manifest.ts';

/**
 * Downloads and checks `<packageUrl>manifest.json`.
 * @throws DownloadError on a network failure or HTTP error
 * @throws ModelPackageError when it is not a valid manifest
 */
export async function fetchManifest(packageUrl: string, signal?: AbortSignal): Promise<Manifest> {
  const url = new URL('manifest.json', packageUrl).href;
  let response: Response;
  try {
    response = await fetch(url, { signal, cache: 'no-cache', credentials: 'same-origin' });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new DownloadError(`cannot fetch ${url}: ${(error as Error).message}`, url);
  }
  if (!response.ok) throw new DownloadError(`cannot fetch ${url}: HTTP ${response.status}`, url, response.status);
  let json: unknown;
  try {
    json = await response.json();
  } catch (error) {
    throw new ModelPackageError(`${url} is not valid JSON: ${(error as Error).message}`, url);
  }
  return parseManifest(json, url);
}
