/**
 * What a generator worker runs: the local engine exposed through Comlink, errors sent
 * with their fields, the watchdog answered, and (in a worker started for it) the tests'
 * fault injection. `workers/generator.worker.ts` is this one call.
 */
import * as Comlink from 'comlink';
import { Engine } from './engine.ts';
import { installTestHooks, testHooksRequested } from './test-hooks.ts';
import { isWasmThread, sendErrorsWithFields } from './worker-errors.ts';
import { answerWatchdog } from './worker-watchdog.ts';

/** Serves `engine` (default a new Engine) to the page, unless this is one of onnxruntime's wasm threads. */
export function serveEngine(engine: () => object = () => new Engine()): void {
  // onnxruntime starts its wasm threads from this same script; they are not engines.
  if (isWasmThread()) return;
  sendErrorsWithFields();
  answerWatchdog();
  if (testHooksRequested()) installTestHooks();
  Comlink.expose(engine());
}
