/** The generator worker: exposes the local engine to the page through Comlink (see serve-engine.ts). */
import { serveEngine } from '../src/engine/serve-engine.ts';

serveEngine();
