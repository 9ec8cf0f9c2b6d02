/**
 * Errors leaving the worker: Comlink's default turns a thrown Error into a plain
 * `{name, message, stack}`, which loses fields such as `InvalidParameterError.field` or
 * `DeviceCapabilityError.missing`. This replaces its "throw" handler in the worker (a
 * realm the engine owns) so that the error's own plain fields travel too; the client
 * rebuilds the class with `fromWireError`.
 */
import * as Comlink from 'comlink';
import { toWireError } from './protocol.ts';

/** Installs the error handler; call once in the worker before `Comlink.expose`. */
export function sendErrorsWithFields(): void {
  const original = Comlink.transferHandlers.get('throw')!;
  Comlink.transferHandlers.set('throw', {
    canHandle: original.canHandle,
    serialize(thrown: unknown) {
      const { value } = thrown as { value: unknown };
      const wire = toWireError(value);
      return [{ isError: true, value: { ...wire.fields, name: wire.name, message: wire.message, fields: wire.fields } }, []];
    },
    deserialize: original.deserialize,
  });
}

/** Whether this worker was started by onnxruntime as a wasm thread (it must not expose the engine). */
export function isWasmThread(): boolean {
  return Boolean((globalThis as { name?: string }).name?.startsWith('em-pthread'));
}
