/**
 * A generator's model given as a Hub source (`createGenerator({ model: { from: 'hf:…' } })`):
 * its package URL, and `ensure()`, which imports it once (resuming an interrupted import)
 * before the first load or generation. Concurrent calls share one import.
 */
import type { ProgressCallback } from '../progress.ts';
import { checkHubModelSource, importedPackageUrl, type HubModelSource } from './hub-model-source.ts';
import { importModel } from './model-import.ts';

/** A Hub model bound to a generator. */
export interface HubModel {
  /** Where the import stores it (the generator's package URL). */
  readonly packageUrl: string;
  /** Imports it unless it is stored; `import` progress events go to `onProgress`. */
  ensure(options: { onProgress?: ProgressCallback; signal?: AbortSignal }): Promise<void>;
}

/**
 * @throws InvalidParameterError naming a field of `source`
 */
export function createHubModel(source: HubModelSource): HubModel {
  checkHubModelSource(source);
  const packageUrl = importedPackageUrl(source);
  let imported = false;
  let running: Promise<void> | undefined;
  return {
    packageUrl,
    async ensure({ onProgress, signal }) {
      if (imported) return;
      running ??= importModel(source, { onProgress, signal }).then(
        () => {
          imported = true;
          running = undefined;
        },
        (error) => {
          running = undefined;
          throw error;
        },
      );
      await running;
    },
  };
}
