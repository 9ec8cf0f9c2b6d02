/**
 * Randomized bad input at every public entry point that runs in Node: createGenerator's
 * options, generate() and validate(), the BFL- and OpenAI-shaped facades, createProvider
 * and a provider's generate(), and the CLI's request flags. Each call changes one thing
 * of a valid call to a value that is not allowed. Target: 100 % typed errors naming that
 * thing, 0 accepted (nothing reaches an engine or the network), 0 hangs.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluxError, InvalidParameterError } from '../src/errors.ts';
import { readGeneratorConfig } from '../src/widget/config.ts';
import { createGenerator } from '../src/generator.ts';
import { createProvider, type ImageEngine } from '../src/providers/index.ts';
import { requestFromFlags } from '../tools/cli-request.ts';
import { badCalls, describe as describeValue, rng, runBadCall } from './browser/pages/bad-inputs.js';

/** Seeds are fixed so that a failure can be replayed; change them to explore. */
const SEED = 20_251_011;
const CALLS = 700;

let reached = 0;
const realFetch = globalThis.fetch;

beforeAll(() => {
  // Anything that gets past validation to the network counts as accepted.
  globalThis.fetch = (async () => {
    reached++;
    throw new Error('network reached');
  }) as typeof fetch;
});
afterAll(() => {
  globalThis.fetch = realFetch;
});

function context() {
  const engine: ImageEngine = {
    id: 'double',
    label: 'Test double',
    async generate() {
      reached++;
      throw new Error('the engine was reached');
    },
  };
  return {
    lib: { createGenerator, createProvider, FluxError },
    generator: createGenerator({ privacy: 'remote-only', providers: [engine] }),
    provider: createProvider({ kind: 'bfl', apiKey: 'k-123', baseUrl: 'https://api.example.invalid' }),
    reached: () => reached,
  };
}

describe('randomized bad input (Node)', () => {
  it(`${CALLS} bad calls across the library's entry points: all typed with the field, none accepted, none hanging`, async () => {
    const ctx = context();
    const outcomes: Record<string, number> = {};
    const failures: string[] = [];
    const perEntry: Record<string, number> = {};
    for (const call of badCalls(SEED, CALLS)) {
      const result = await runBadCall(call, ctx);
      outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
      perEntry[call.entry] = (perEntry[call.entry] ?? 0) + 1;
      if (result.outcome !== 'typed') failures.push(`${result.outcome}: ${result.label}${result.error ? ` → ${result.error}` : ''}`);
    }
    console.log(`bad-input (Node): ${JSON.stringify(outcomes)} over ${JSON.stringify(perEntry)}`);
    expect(failures).toEqual([]);
    expect(outcomes.typed).toBe(CALLS);
    expect(reached).toBe(0);
  }, 60_000);

  it('the CLI request flags: 200 bad values, each refused naming its flag', () => {
    const random = rng(SEED + 1);
    const bad: Record<string, string[]> = {
      width: ['abc', '17', '0', '1.5', '-16', '99999', '', '0x200', '1e9', 'NaN', '2064'],
      height: ['x', '8', '2049', ' ', '512px'],
      steps: ['0', 'x', '51', '2.5', '-1'],
      seed: ['-1', 'x', '4294967296', '1.5', '1e20'],
      'num-images': ['0', '5', 'x', '2.5'],
      prompt: ['', '   ', 'x'.repeat(10_001)],
    };
    const keys = Object.keys(bad);
    const failures: string[] = [];
    for (let i = 0; i < 200; i++) {
      const key = keys[Math.floor(random() * keys.length)];
      const value = bad[key][Math.floor(random() * bad[key].length)];
      const flags = { prompt: 'a fox', width: '512', height: '512', [key]: value };
      try {
        requestFromFlags(flags, { sizes: i % 2 ? 'any' : 'web' });
        if (!(key === 'width' && value === '2064') || i % 2 === 0) failures.push(`accepted --${key} ${describeValue(value)}`);
      } catch (error) {
        const named = error instanceof InvalidParameterError ? error.field : undefined;
        if (named !== `--${key}`) failures.push(`--${key} ${describeValue(value)}: ${(error as Error).name} names ${named}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe("the outside probe's failures (issue 11), one by one", () => {
  const engine: ImageEngine = { id: 'double', label: 'Test double', generate: async () => Promise.reject(new Error('reached')) };
  const named = async (what: () => unknown): Promise<[string | undefined, string | undefined, string | undefined]> => {
    try {
      await what();
    } catch (error) {
      const e = error as { name?: string; field?: string; param?: string; detail?: { loc: string[] }[]; reason?: string };
      return [e.name, e.field ?? e.param ?? e.detail?.[0]?.loc[1], e.reason];
    }
    return [undefined, undefined, undefined];
  };
  const generator = createGenerator({ privacy: 'remote-only', providers: [engine] });
  const model = 'https://example.org/models/demo/';

  it('generate(): promptEmbeddings null, a signal that is not an AbortSignal', async () => {
    expect(await named(() => generator.generate({ promptEmbeddings: null } as never))).toEqual(['InvalidParameterError', 'promptEmbeddings', 'wrong-type']);
    expect(await named(() => generator.generate({ prompt: 'x', signal: { aborted: false } } as never))).toEqual(['InvalidParameterError', 'signal', 'wrong-type']);
  });

  it('createGenerator: no options, null, providers "bfl" / {} / [null], an unparsable model URL, worker {}, a non-string model', async () => {
    expect(await named(() => createGenerator(undefined as never))).toEqual(['InvalidParameterError', 'options', 'missing']);
    expect(await named(() => createGenerator(null as never))).toEqual(['InvalidParameterError', 'options', 'missing']);
    expect(await named(() => createGenerator({ model, providers: 'bfl' } as never))).toEqual(['InvalidParameterError', 'providers', 'wrong-type']);
    expect(await named(() => createGenerator({ model, providers: {} } as never))).toEqual(['InvalidParameterError', 'providers', 'wrong-type']);
    expect(await named(() => createGenerator({ model, providers: [null] } as never))).toEqual(['InvalidParameterError', 'providers[0]', 'missing']);
    expect(await named(() => createGenerator({ model: 'http://[::1' }))).toEqual(['InvalidParameterError', 'model', 'malformed']);
    expect(await named(() => createGenerator({ model, worker: {} } as never))).toEqual(['InvalidParameterError', 'worker', 'wrong-type']);
    expect(await named(() => createGenerator({ model: 42 } as never))).toEqual(['InvalidParameterError', 'model', 'wrong-type']);
  });

  it('accepted silently before: baseUrl 123, provider model 42, strict "yes", maxRetries 1.5, numThreads -1, engine "fast"', async () => {
    const provider = (extra: object) => named(() => createGenerator({ model, providers: [{ kind: 'bfl', ...extra } as never] }));
    expect(await provider({ baseUrl: 123 })).toEqual(['InvalidParameterError', 'providers[0].baseUrl', 'wrong-type']);
    expect(await provider({ model: 42 })).toEqual(['InvalidParameterError', 'providers[0].model', 'wrong-type']);
    expect(await provider({ strict: 'yes' })).toEqual(['InvalidParameterError', 'providers[0].strict', 'wrong-type']);
    expect(await provider({ maxRetries: 1.5 })).toEqual(['InvalidParameterError', 'providers[0].maxRetries', 'out-of-range']);
    expect(await named(() => createGenerator({ model, engine: { numThreads: -1 } }))).toEqual(['InvalidParameterError', 'engine.numThreads', 'out-of-range']);
    expect(await named(() => createGenerator({ model, engine: 'fast' } as never))).toEqual(['InvalidParameterError', 'engine', 'wrong-type']);
  });

  it('memory plans: memory "huge" or 3, gpuMemoryCap with a negative probe; the widget attribute memory="huge"', async () => {
    expect(await named(() => createGenerator({ model, memory: 'huge' } as never))).toEqual(['InvalidParameterError', 'memory', 'not-one-of']);
    expect(await named(() => createGenerator({ model, memory: 3 } as never))).toEqual(['InvalidParameterError', 'memory', 'wrong-type']);
    expect(await named(() => createGenerator({ model, engine: { gpuMemoryCap: { probeBytes: -1 } } }))).toEqual(['InvalidParameterError', 'engine.gpuMemoryCap.probeBytes', 'out-of-range']);
    expect(await named(() => readGeneratorConfig((name) => ({ model, memory: 'huge' } as Record<string, string>)[name] ?? null))).toEqual(['InvalidParameterError', 'memory', 'not-one-of']);
    expect(readGeneratorConfig((name) => ({ model, memory: 'streaming' } as Record<string, string>)[name] ?? null).memory).toBe('streaming');
    expect(readGeneratorConfig((name) => ({ model } as Record<string, string>)[name] ?? null).memory).toBe('auto');
    expect(createGenerator({ model, memory: 'staged' }).privacy).toBe('local-only');
  });

  it("the BFL facade blames aspect_ratio (and refuses past 21:9), the OpenAI facade names the caller's field", async () => {
    expect(await named(() => generator.bfl.submit('flux-pro-1.1-ultra', { prompt: 'x', aspect_ratio: '0:0' }))).toEqual(['BflValidationError', 'aspect_ratio', 'invalid-request']);
    expect(await named(() => generator.bfl.submit('flux-pro-1.1-ultra', { prompt: 'x', aspect_ratio: '100:1' }))).toEqual(['BflValidationError', 'aspect_ratio', 'invalid-request']);
    await expect(generator.bfl.submit('flux-pro-1.1-ultra', { prompt: 'x', aspect_ratio: '21:9' })).resolves.toMatchObject({ id: expect.any(String) });
    expect(await named(() => generator.images.generate({ prompt: 'x', output_format: 'gif' as never }))).toEqual(['OpenAIRequestError', 'output_format', 'invalid-request']);
    expect(await named(() => generator.images.generate({ prompt: 'x', n: 9 }))).toEqual(['OpenAIRequestError', 'n', 'invalid-request']);
  });
});

describe('the CLI process', () => {
  const run = promisify(execFile);
  const cli = (...args: string[]): Promise<{ code?: number; stderr: string }> =>
    run('node', ['tools/flux-webgpu.mjs', 'generate', ...args]).then(() => ({ code: 0, stderr: '' }), (e) => e);

  it('exits 2 naming the flag, the class and the reason, before touching the package', async () => {
    const result = await cli('--model', '/nonexistent/package', '--prompt', 'a fox', '--width', '17', '--out', '/nonexistent/x.png');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--width must be a multiple of 16/);
    expect(result.stderr).toMatch(/\(InvalidParameterError: field --width, reason out-of-range\)/);
  }, 60_000);
});
