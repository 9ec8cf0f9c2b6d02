/**
 * The generator worker of the `browser` bench: exactly `workers/generator.worker.ts`
 * (the local engine exposed through Comlink), plus a timing wrapper around
 * onnxruntime's `InferenceSession.create` and `InferenceSession.prototype.run`, installed
 * before the engine makes any session. The page hands it to the library through the
 * public `worker` option of `createGenerator`, so no engine file is changed.
 *
 * Every create/run is posted on the BroadcastChannel {@link BENCH_CHANNEL} as
 * `{kind, graph, start, end}` with absolute times (`performance.timeOrigin + now()`, ms)
 * so the page can line them up with its own progress events.
 */
import { ort } from '../../../src/engine/ort.ts';
import { serveEngine } from '../../../src/engine/serve-engine.ts';
import { isWasmThread } from '../../../src/engine/worker-errors.ts';
import { BENCH_CHANNEL, type SessionTiming } from './browser-bench-shared.ts';

const now = () => performance.timeOrigin + performance.now();

function installTiming(): void {
  const channel = new BroadcastChannel(BENCH_CHANNEL);
  const names = new WeakMap<object, string>();
  type Create = (...args: unknown[]) => Promise<object>;
  type Run = (this: object, ...args: unknown[]) => Promise<unknown>;
  const Session = ort.InferenceSession as unknown as { create: Create; prototype: { run: Run } };
  const create = Session.create;
  const run = Session.prototype.run;

  Session.create = async function (this: unknown, ...args: unknown[]) {
    // create(model, options) or create(buffer, offset, length, options): the options object comes last.
    const options = [...args].reverse().find((a: unknown) => a !== null && typeof a === 'object' && !ArrayBuffer.isView(a) && !(a instanceof ArrayBuffer)) as { logId?: string } | undefined;
    const graph = options?.logId ?? '?';
    const start = now();
    const session = await create.apply(this, args);
    channel.postMessage({ kind: 'create', graph, start, end: now() } satisfies SessionTiming);
    names.set(session, graph);
    return session;
  };
  Session.prototype.run = async function (this: object, ...args: unknown[]) {
    const start = now();
    try {
      return await run.apply(this, args);
    } finally {
      channel.postMessage({ kind: 'run', graph: names.get(this) ?? '?', start, end: now() } satisfies SessionTiming);
    }
  };
}

if (!isWasmThread()) installTiming();
serveEngine();
