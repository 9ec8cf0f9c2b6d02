/** The import worker: converts models from the Hub into the weight store (see src/import/import-engine.ts). */
import * as Comlink from 'comlink';
import { sendErrorsWithFields } from '../src/engine/worker-errors.ts';
import { ImportEngine } from '../src/import/import-engine.ts';

sendErrorsWithFields();
Comlink.expose(new ImportEngine());
