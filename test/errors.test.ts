/**
 * Error identity and reasons: every class states its name as a literal (so minifiers
 * cannot break it: checked on a minified bundle built without keepNames), carries a
 * reason from its closed union, crosses the worker boundary as itself, and the UI
 * explains it by class and reason, never by its message text.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'vite';
import { describe, expect, it } from 'vitest';
import { fromWireError, toWireError } from '../src/engine/protocol.ts';
import { withoutInternalFileNames } from '../src/engine/runtime-errors.ts';
import * as errors from '../src/errors.ts';
import { explainError } from '../src/widget/presenter.ts';

const ROOT = resolve(import.meta.dirname, '..');
const { ERROR_CLASSES, DeviceCapabilityError, DeviceLostError, InvalidParameterError, ModelPackageError, CheckpointError, WorkerCrashedError, ProviderAuthError, RateLimitedError } = errors;

describe('error classes', () => {
  it('each states its own literal name and default reason, and is listed for rebuilding', () => {
    const exported = Object.values(errors).filter((v): v is (typeof ERROR_CLASSES)[number] => typeof v === 'function' && v.prototype instanceof Error);
    expect(new Set(ERROR_CLASSES)).toEqual(new Set([errors.FluxError, ...exported.filter((c) => c !== errors.FluxError)]));
    for (const type of ERROR_CLASSES) {
      expect(Object.hasOwn(type, 'errorName'), type.errorName).toBe(true);
      expect(Object.hasOwn(type, 'defaultReason'), type.errorName).toBe(true);
      const instance = Object.create(type.prototype) as Error;
      expect(instance).toBeInstanceOf(errors.FluxError);
    }
    expect(new Set(ERROR_CLASSES.map((type) => type.errorName)).size).toBe(ERROR_CLASSES.length);
    const error = new InvalidParameterError('width', 'a multiple of 16', 17);
    expect([error.name, error.reason]).toEqual(['InvalidParameterError', 'out-of-range']);
    expect(new InvalidParameterError('prompt', 'text', undefined).reason).toBe('missing');
    expect(new DeviceCapabilityError('no GPU', ['webgpu']).reason).toBe('no-webgpu');
    expect(new DeviceCapabilityError('too big', ['maxBufferSize']).reason).toBe('package-too-large');
    expect(new ProviderAuthError('no', 'bfl', 401)).toMatchObject({ name: 'ProviderAuthError', reason: 'auth', provider: 'bfl', status: 401 });
    expect(new RateLimitedError('slow', 'fal', 1000)).toMatchObject({ name: 'RateLimitedError', reason: 'rate-limited', status: 429 });
  });

  it('cross the worker boundary as their class, with reason and fields, and without library file names', () => {
    const original = new WorkerCrashedError('the wasm aborted at /onnxruntime/core/framework/allocator.cc:55 while loading', 'wasm-abort', 'load');
    const wire = structuredClone(toWireError(original));
    const rebuilt = fromWireError(wire);
    expect(rebuilt).toBeInstanceOf(WorkerCrashedError);
    expect(rebuilt).toMatchObject({ name: 'WorkerCrashedError', reason: 'wasm-abort', stage: 'load' });
    expect(rebuilt.message).not.toMatch(/allocator\.cc|\.cc:/);
    const plain = fromWireError(structuredClone(toWireError(new TypeError('mapAsync failed in buffer_manager.cc:480'))));
    expect(plain.message).toBe('mapAsync failed in');
    expect(withoutInternalFileNames('[E:onnxruntime:, sequential_executor.cc:572 ExecuteKernel] Non-zero status code')).toBe('Non-zero status code');
    expect(withoutInternalFileNames('transformer/model.onnx is missing from manifest.json')).toBe('transformer/model.onnx is missing from manifest.json');
  });

  it('keep their names in a minified bundle built without keepNames (as a consumer might bundle them)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flux-errors-min-'));
    try {
      writeFileSync(join(dir, 'entry.ts'), `export * from ${JSON.stringify(join(ROOT, 'src/errors.ts'))};\n`);
      await build({
        root: dir,
        logLevel: 'silent',
        configFile: false,
        build: {
          outDir: join(dir, 'out'),
          minify: true,
          lib: { entry: join(dir, 'entry.ts'), formats: ['es'], fileName: 'errors' },
          rolldownOptions: { output: { keepNames: false } },
        },
      });
      const [file] = readdirSync(join(dir, 'out')).filter((f) => f.endsWith('js'));
      const minified = (await import(pathToFileURL(join(dir, 'out', file)).href)) as typeof errors;
      const classes = minified.ERROR_CLASSES;
      // The bundle really lost the class names...
      expect(classes.some((type) => type.name !== type.errorName)).toBe(true);
      // ...and every error still says what it is, and is rebuilt as its class from its name.
      for (const type of classes) {
        const rebuilt = minified.rebuildError({ name: type.errorName, message: 'm' });
        expect(rebuilt).toBeInstanceOf(type);
        expect(rebuilt.name).toBe(type.errorName);
      }
      const error = new minified.InvalidParameterError('width', 'a multiple of 16', 17);
      expect([error.name, error.reason]).toEqual(['InvalidParameterError', 'out-of-range']);
      expect(new minified.DeviceLostError('lost').name).toBe('DeviceLostError');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('explanations depend on class and reason, not on message text', () => {
  /** The same error with another message, as a test double would word it. */
  function reworded<T extends Error>(error: T): T {
    const copy = Object.assign(Object.create(Object.getPrototypeOf(error) as object) as T, error);
    copy.message = 'Completely different words: nothing the UI could match (×, worker failed, embeddings, hosted provider).';
    return copy;
  }

  const samples: Error[] = [
    new InvalidParameterError('width', 'a multiple of 16 from 256 to 1440', 17),
    new InvalidParameterError('prompt', 'used with a package that has text encoders', 'x', 'no-text-encoders'),
    new InvalidParameterError('providers', 'at least one hosted provider in remote-only mode', 'none', 'no-provider'),
    new DeviceCapabilityError('This device cannot run it: 1024×1024 needs a 4 GB buffer', ['maxStorageBufferBindingSize'], 'size-too-large'),
    new DeviceCapabilityError('This device cannot run it', ['maxBufferSize']),
    new DeviceCapabilityError('This browser has no WebGPU', ['webgpu']),
    new DeviceLostError('mapAsync failed', 'denoise'),
    new WorkerCrashedError('the generator worker failed: its script could not be loaded', 'failed-to-start'),
    new WorkerCrashedError('The generator worker stopped', 'exited', 'denoise'),
    new WorkerCrashedError('aborted', 'wasm-abort', 'load'),
    new ModelPackageError('this package has no text encoders', undefined, 'no-text-encoders'),
    new ProviderAuthError('HTTP 401', 'bfl', 401),
    new ModelPackageError('flux-import://… is not in storage', undefined, 'not-stored'),
    new CheckpointError('t.gguf is a GGUF of architecture "llama"', 't.gguf'),
    new CheckpointError('no such file', 'x.gguf', undefined, 'missing-file'),
    new CheckpointError('IQ4_XS', 't.gguf', 'w', 'unsupported'),
    new DeviceCapabilityError('This device cannot run it: streaming needs 5 GiB, 3 GiB available', ['gpu-memory'], undefined, { neededBytes: 5e9, availableBytes: 3e9 }),
    new errors.GpuOutOfMemoryError('streaming ran out of GPU memory', 'streaming', null),
  ];

  it('a reworded message leaves summary and action unchanged', () => {
    for (const error of samples) {
      const before = explainError(error);
      const after = explainError(reworded(error));
      expect({ summary: after.summary, action: after.action, noWebGpu: after.noWebGpu }, `${error.name}/${(error as errors.FluxError).reason}`).toEqual({ summary: before.summary, action: before.action, noWebGpu: before.noWebGpu });
      expect(after.detail).not.toBe(before.detail);
    }
  });

  it('the reason decides between explanations of one class', () => {
    const texts = (list: Error[]) => new Set(list.map((e) => explainError(e).action)).size;
    expect(texts(samples.slice(3, 6))).toBe(3);
    expect(texts(samples.slice(7, 10))).toBe(3);
    expect(explainError(samples[5]).noWebGpu).toBe(true);
    expect(explainError(samples[1]).summary).toMatch(/cannot read text prompts/);
    expect(texts(samples.slice(13, 16))).toBe(3);
    expect(explainError(samples[12]).action).toMatch(/import resumes/);
    // Not enough GPU memory for any plan: its own explanation, not the buffer-limit one.
    expect(texts([samples[4], samples[16]])).toBe(2);
    expect(explainError(samples[17]).summary).toMatch(/ran out of memory/);
  });
});
