/**
 * Where a shard's GPU time goes: onnxruntime's session profiling, whose WebGPU EP records
 * each program's GPU duration (timestamp queries) as an "Api" event named
 * `<node>&<op type>&<program>`. The last run's events are summed by op type.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { EpRunner } from './ep-runner.ts';
import { release } from './ep-runner.ts';

/** GPU time of one op type in one run. */
export interface OpShare {
  op: string;
  ms: number;
  share: number;
  programs: string[];
}

/** A profiled shard: GPU time by op type, and how busy the GPU was over the run. */
export interface KernelProfile {
  variant: string;
  shard: string;
  size: number | null;
  gpuMs: number;
  dispatches: number;
  ops: OpShare[];
}

interface TraceEvent {
  cat?: string;
  name: string;
  dur: number;
}

/**
 * Runs `modelPath` `runs` times with profiling on and returns the GPU time of the last run
 * by op type (largest first). Where the EP records no GPU events (the CPU EP), `ops` is empty.
 */
export async function profileShard(runner: EpRunner, modelPath: string, feeds: Record<string, ort.Tensor>, prefix: string, runs = 2): Promise<Omit<KernelProfile, 'variant' | 'shard' | 'size'>> {
  const options = { ...runner.sessionOptions(), enableProfiling: true, profileFilePrefix: prefix } as ort.InferenceSession.SessionOptions;
  const session = await ort.InferenceSession.create(modelPath, options);
  try {
    for (let i = 0; i < runs; i++) {
      const out = (await session.run(feeds)) as Record<string, ort.Tensor>;
      await runner.sync(Object.values(out)[0]);
      release(out);
    }
    session.endProfiling();
  } finally {
    await session.release();
  }
  const dir = dirname(prefix);
  const file = readdirSync(dir).filter((f) => f.startsWith(basename(prefix)) && f.endsWith('.json')).sort().pop();
  if (!file) throw new Error(`gpu-kit: no profile file ${prefix}*.json`);
  const events = (JSON.parse(readFileSync(join(dir, file), 'utf8')) as TraceEvent[]).filter((e) => e.cat === 'Api' && e.name.includes('&'));
  // Every run dispatches the same programs: the last run is the last 1/runs of the events.
  const perRun = events.length % runs === 0 ? events.length / runs : events.length;
  const last = events.slice(events.length - perRun);
  const byOp = new Map<string, { us: number; programs: Set<string> }>();
  for (const e of last) {
    const [, op, program] = e.name.split('&');
    const entry = byOp.get(op) ?? { us: 0, programs: new Set<string>() };
    entry.us += e.dur;
    entry.programs.add(program ?? op);
    byOp.set(op, entry);
  }
  const totalUs = [...byOp.values()].reduce((a, b) => a + b.us, 0);
  const ops = [...byOp.entries()]
    .map(([op, { us, programs }]) => ({ op, ms: us / 1000, share: totalUs ? us / totalUs : 0, programs: [...programs] }))
    .sort((a, b) => b.ms - a.ms);
  return { gpuMs: totalUs / 1000, dispatches: last.length, ops };
}
