/**
 * Fault injection for the tests, active only in a generator worker started with the name
 * `TEST_HOOKS_WORKER_NAME` (never in the worker the library starts itself). The test page
 * posts `{[TEST_HOOK_MESSAGE]: action}` to the worker:
 * - 'throw': an uncaught error in the worker;
 * - 'close': the worker closes itself (`self.close()`);
 * - 'wasm-abort': every later `session.run` fails as onnxruntime's WebAssembly does after
 *   an abort (a `WebAssembly.RuntimeError` "Aborted(…)");
 * - 'lose-device': destroys the GPU devices the worker created (a device loss mid-run).
 */
import { ort } from './ort.ts';

/** The worker name that turns the hooks on. */
export const TEST_HOOKS_WORKER_NAME = 'flux-webgpu-test-hooks';
/** The key of a hook message. */
export const TEST_HOOK_MESSAGE = 'flux-webgpu-test-hook';

/** Whether this worker was started for fault injection. */
export function testHooksRequested(): boolean {
  return (globalThis as { name?: string }).name === TEST_HOOKS_WORKER_NAME;
}

/** Installs the hooks (call before the engine creates its GPU device). */
export function installTestHooks(): void {
  const devices: { destroy(): void }[] = [];
  const adapterType = (globalThis as { GPUAdapter?: { prototype: { requestDevice(...args: unknown[]): Promise<{ destroy(): void }> } } }).GPUAdapter;
  if (adapterType) {
    const requestDevice = adapterType.prototype.requestDevice;
    adapterType.prototype.requestDevice = async function (this: unknown, ...args: unknown[]) {
      const device = await requestDevice.apply(this, args);
      devices.push(device);
      return device;
    };
  }
  globalThis.addEventListener('message', (event: Event) => {
    const action = ((event as MessageEvent).data as Record<string, unknown> | null)?.[TEST_HOOK_MESSAGE];
    if (action === 'throw') {
      setTimeout(() => {
        throw new Error('test hook: an uncaught error in the generator worker');
      });
    } else if (action === 'close') {
      (globalThis as unknown as { close(): void }).close();
    } else if (action === 'wasm-abort') {
      const session = ort.InferenceSession as unknown as { prototype: { run(...args: unknown[]): Promise<unknown> } };
      session.prototype.run = () => Promise.reject(new WebAssembly.RuntimeError('Aborted(OOM). Build with -sASSERTIONS for more info.'));
    } else if (action === 'lose-device') {
      for (const device of devices.splice(0)) device.destroy();
    }
  });
}
