/** The generator worker: exposes the local engine to the page through Comlink. */
import * as Comlink from 'comlink';
import { Engine } from '../src/engine/engine.ts';
import { isWasmThread, sendErrorsWithFields } from '../src/engine/worker-errors.ts';

// onnxruntime starts its wasm threads from this same script; they are not engines.
if (!isWasmThread()) {
  sendErrorsWithFields();
  Comlink.expose(new Engine());
}
