/**
 * The page's side of a generator worker: starts it (from a factory), talks to its
 * Engine through Comlink, rebuilds its errors as their own classes, and watches it.
 *
 * A worker that dies for any reason is noticed at once, or within a second:
 * - it ends (terminated from outside, closed itself, its process died): the Web Lock it
 *   holds is released and the page, waiting for that lock, gets it at once;
 * - an uncaught error in it, or a message that cannot be read: the Worker's events;
 * - onnxruntime's WebAssembly aborted: the engine answers with a WorkerCrashedError;
 * - it stops answering its heartbeat while idle (or, without Web Locks, for longer while
 *   busy: a long synchronous step must not count as a death).
 * Every pending call then rejects with a WorkerCrashedError naming the reason and the
 * stage the call was in; the worker is terminated, and the next call starts a fresh one
 * (several generators sharing one worker through one factory recover together).
 * See src/engine/worker-watchdog.ts for the worker's half.
 */
import * as Comlink from 'comlink';
import { fromWireError, isWireError, type EngineApi, type EngineSettings } from './engine/protocol.ts';
import { withoutInternalFileNames } from './engine/runtime-errors.ts';
import { WATCHDOG_MESSAGE } from './engine/worker-watchdog.ts';
import { workerLoadError } from './engine/library-files.ts';
import { FluxError, LibraryAssetError, WorkerCrashedError, type WorkerCrashReason } from './errors.ts';

/** Milliseconds between heartbeats. */
const HEARTBEAT_MS = 200;
/** Silence after which an idle worker (no call pending) counts as dead, unless its lock says it lives. */
const IDLE_SILENCE_MS = 800;
/** Without Web Locks: silence after which a busy worker counts as dead (long synchronous steps exist). */
const BUSY_SILENCE_MS = 30_000;

/** A call in flight, with the stage it last reported. */
interface PendingCall {
  stage: string;
  reject(error: Error): void;
}

const WORDS: Record<WorkerCrashReason, string> = {
  exited: 'The generator worker stopped (it was terminated or closed)',
  'uncaught-error': 'The generator worker failed with an uncaught error',
  'wasm-abort': "onnxruntime's WebAssembly aborted in the generator worker",
  unresponsive: 'The generator worker stopped answering',
  'failed-to-start': 'The generator worker could not start',
  'message-error': 'The generator worker sent a message that could not be read',
};

/** One worker and everything known about its health; shared by every connection that uses it. */
export class WatchedWorker {
  /** The Engine in the worker. */
  readonly engine: Comlink.Remote<EngineApi>;
  /** Set once the worker is dead (or retired): why. */
  death?: { reason: WorkerCrashReason; detail: string };
  private readonly pending = new Set<PendingCall>();
  private readonly port?: MessagePort;
  private timer?: ReturnType<typeof setInterval>;
  private started = false;
  private hasLock = false;
  /** The heartbeat not answered yet: its number and when it was sent. */
  private awaiting?: { seq: number; since: number };
  private ping = 0;
  private checking = false;

  constructor(readonly worker: Worker) {
    this.engine = Comlink.wrap<EngineApi>(worker);
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      const message = (event as ErrorEvent).message;
      // No message before the first answer: the script itself did not load (a bundler that did not emit it).
      if (!message && !this.started) return this.die('failed-to-start', '', workerLoadError());
      this.die(this.started ? 'uncaught-error' : 'failed-to-start', withoutInternalFileNames(message || ''));
    });
    worker.addEventListener('messageerror', () => this.die('message-error', ''));
    if (typeof MessageChannel === 'undefined') return;
    const channel = new MessageChannel();
    this.port = channel.port1;
    const lock = `flux-webgpu-worker-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    this.port.onmessage = (event) => this.heard(event.data as { alive?: boolean; lock?: boolean; pong?: number }, lock);
    worker.postMessage({ [WATCHDOG_MESSAGE]: { lock } }, [channel.port2]);
  }

  /** Whether the worker is dead or retired. */
  get dead(): boolean {
    return this.death !== undefined;
  }

  /**
   * Runs one call on the worker. Rejects with a WorkerCrashedError when the worker dies
   * meanwhile; errors from the worker come back as their own classes.
   * @param operation what the call is ('generate', 'checkDevice', …): its stage until it reports one
   * @param task the call; `setStage` records the stage it reached (from its progress)
   */
  async run<T>(operation: string, task: (engine: Comlink.Remote<EngineApi>, setStage: (stage: string) => void) => Promise<T>): Promise<T> {
    let reject!: (error: Error) => void;
    const failed = new Promise<never>((_, r) => (reject = r));
    const call: PendingCall = { stage: operation, reject };
    if (this.death) throw this.crashError(this.death.reason, this.death.detail, operation);
    this.pending.add(call);
    try {
      return await Promise.race([task(this.engine, (stage) => (call.stage = stage)), failed]);
    } catch (thrown) {
      const error = isWireError(thrown) && !(thrown instanceof FluxError) ? fromWireError(wireOf(thrown)) : thrown;
      // The engine reports a wasm abort itself: this worker is unusable from now on.
      if (error instanceof WorkerCrashedError && error.reason === 'wasm-abort') this.die('wasm-abort', '', error);
      throw error;
    } finally {
      this.pending.delete(call);
    }
  }

  /** Stops the worker for good (e.g. the generator was disposed); pending calls reject with `error`. */
  retire(error: Error): void {
    if (this.death) return;
    this.death = { reason: 'exited', detail: 'retired' };
    this.stop();
    for (const call of this.pending) call.reject(error);
    this.pending.clear();
  }

  private crashError(reason: WorkerCrashReason, detail: string, stage: string): WorkerCrashedError {
    const during = stage ? ` during ${stage}` : '';
    return new WorkerCrashedError(`${WORDS[reason]}${during}${detail ? ` (${detail})` : ''}. The next call starts a new worker.`, reason, stage);
  }

  /** Marks the worker dead, terminates it and rejects every pending call. */
  private die(reason: WorkerCrashReason, detail: string, fromWorker?: WorkerCrashedError | LibraryAssetError): void {
    if (this.death) return;
    this.death = { reason, detail };
    this.stop();
    for (const call of this.pending) call.reject(fromWorker && (fromWorker instanceof LibraryAssetError || call.stage === fromWorker.stage) ? fromWorker : this.crashError(reason, detail, call.stage));
    this.pending.clear();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.port?.close();
    try {
      this.worker.terminate();
    } catch {
      // Already gone.
    }
  }

  private heard(message: { alive?: boolean; lock?: boolean; pong?: number }, lock: string): void {
    if (message.pong !== undefined && message.pong === this.awaiting?.seq) this.awaiting = undefined;
    if (!message.alive || this.started) return;
    this.started = true;
    this.hasLock = message.lock === true;
    // The worker holds its lock until it ends: being granted the lock means it ended.
    if (this.hasLock) void navigator.locks.request(lock, () => this.die('exited', '')).catch(() => undefined);
    this.timer = setInterval(() => this.beat(lock), HEARTBEAT_MS);
  }

  private beat(lock: string): void {
    if (this.death) return;
    if (!this.awaiting) {
      // Measured from a ping, not from the last answer: a throttled (background) page sends few pings.
      this.awaiting = { seq: ++this.ping, since: Date.now() };
      this.port?.postMessage({ ping: this.ping });
      return;
    }
    const silence = Date.now() - this.awaiting.since;
    if (silence < IDLE_SILENCE_MS || this.checking) return;
    if (this.hasLock) {
      // Silent but holding its lock: alive and busy (a long synchronous step), or hung.
      this.checking = true;
      void navigator.locks
        .query()
        .then((state) => {
          if (!state.held?.some((held) => held.name === lock)) this.die('exited', '');
          else if (this.pending.size === 0 && silence > BUSY_SILENCE_MS) this.die('unresponsive', '');
        })
        .catch(() => undefined)
        .finally(() => (this.checking = false));
      return;
    }
    if (this.pending.size === 0 || silence > BUSY_SILENCE_MS) this.die('unresponsive', '');
  }
}

const watched = new WeakMap<Worker, WatchedWorker>();

/** The watcher of `worker` (one per worker, however many generators use it). */
export function watchWorker(worker: Worker): WatchedWorker {
  let entry = watched.get(worker);
  if (!entry) watched.set(worker, (entry = new WatchedWorker(worker)));
  return entry;
}

/** Whether `worker` died (or was retired) while watched. */
export function isWorkerDead(worker: Worker): boolean {
  return watched.get(worker)?.dead ?? false;
}

/**
 * One generator's connection to its worker: takes a worker from `start` when it needs
 * one (the first call, and the first call after a death), sends the engine settings to
 * each new worker once, and runs calls on it.
 */
export class EngineConnection {
  private current?: WatchedWorker;
  private readonly configured = new WeakMap<WatchedWorker, Promise<void>>();
  private closed?: Error;

  constructor(
    private readonly start: () => Worker,
    private readonly settings?: EngineSettings,
  ) {}

  /** The live worker, started now when there is none or the last one died. */
  worker(): WatchedWorker {
    if (this.closed) throw this.closed;
    if (!this.current || this.current.dead) this.current = watchWorker(this.start());
    return this.current;
  }

  /** Runs a call on the live worker (see `WatchedWorker.run`). */
  async call<T>(operation: string, task: (engine: Comlink.Remote<EngineApi>, setStage: (stage: string) => void) => Promise<T>): Promise<T> {
    const watchedWorker = this.worker();
    if (this.settings) {
      let configured = this.configured.get(watchedWorker);
      if (!configured) this.configured.set(watchedWorker, (configured = watchedWorker.run('configure', (engine) => engine.configure(this.settings!))));
      await configured;
    }
    return watchedWorker.run(operation, task);
  }

  /**
   * Stops the live worker (its pending calls reject with `error`) so that the next call
   * starts a fresh one: after a GPU out-of-memory failure onnxruntime's wasm is unusable.
   */
  replaceWorker(error: Error): void {
    this.current?.retire(error);
    this.current = undefined;
  }

  /** Runs `last` on the live worker (if any, for at most `timeoutMs`), then stops it; later calls reject with `error`. */
  async close(error: Error, last?: (engine: Comlink.Remote<EngineApi>) => Promise<unknown>, timeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = error;
    const current = this.current;
    if (!current || current.dead) return;
    if (last) {
      try {
        await Promise.race([current.run('dispose', (engine) => last(engine)), new Promise((done) => setTimeout(done, timeoutMs))]);
      } catch {
        // The worker is stopped either way.
      }
    }
    current.retire(error);
  }
}

/** Comlink delivers a worker error as an Error carrying `name`, `message` and `fields`. */
function wireOf(error: { name: string; message: string; fields?: Record<string, unknown> }) {
  return { name: error.name, message: error.message, fields: error.fields ?? {} };
}
