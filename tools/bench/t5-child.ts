/**
 * One step of the T5 bench in its own process (so its peak RSS is its own):
 *
 *   node --import tsx tools/bench/t5-child.ts build <text_encoder_2 dir> <out dir> <fp32|q4>
 *   node --import tsx tools/bench/t5-child.ts run <out dir> <runs>
 *
 * `build` writes the T5 graphs and prints { buildMs, weightBytes, graphs }; `run` opens
 * them with onnxruntime-node (CPU), encodes 256 tokens `runs` times and prints
 * { createMs, encodeMs: number[], rssAfterLoadBytes, maxRssBytes }. One JSON line each.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { WeightPrecision } from '../../src/package/manifest.ts';
import { FAMILY_DEFAULTS } from '../../src/defaults.ts';
import { prepareT5 } from '../../src/convert/components.ts';
import { writeGraph } from '../../src/convert/convert.ts';
import { openFolderSink } from '../convert/folder-sink.ts';
import { localCheckpointFiles } from '../convert/local-files.ts';

/** The bench measures [schnell]'s T5 length. */
const T5_SEQUENCE_LENGTH = FAMILY_DEFAULTS.schnell.t5Tokens;

const [mode, ...args] = process.argv.slice(2);
if (mode === 'build') {
  const [checkpoint, out, precision] = args;
  const started = performance.now();
  const t5 = await prepareT5(localCheckpointFiles(checkpoint), '', precision as WeightPrecision, 2047 * 2 ** 20, T5_SEQUENCE_LENGTH);
  const sink = await openFolderSink(out, true);
  const graphs: string[] = [];
  let weightBytes = 0;
  for (const job of t5.jobs) {
    const written = await writeGraph(job, sink, precision as WeightPrecision, 2047 * 2 ** 20);
    graphs.push(written.entry.model);
    weightBytes += written.entry.weightBytes;
  }
  await t5.close();
  await sink.commit(new TextEncoder().encode(JSON.stringify(graphs))); // manifest.json: the graph list
  console.log(JSON.stringify({ buildMs: performance.now() - started, weightBytes }));
  process.exit(0);
}
const [out, runs = '3'] = args;
const graphs: string[] = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
const started = performance.now();
const sessions = [];
for (const graph of graphs) sessions.push(await ort.InferenceSession.create(join(out, graph)));
const createMs = performance.now() - started;
const rssAfterLoadBytes = process.memoryUsage().rss;

const ids = new ort.Tensor('int64', BigInt64Array.from({ length: T5_SEQUENCE_LENGTH }, (_, i) => BigInt((i * 7919) % 1000)), [1, T5_SEQUENCE_LENGTH]);
const encodeMs: number[] = [];
for (let r = 0; r < Number(runs); r++) {
  const t0 = performance.now();
  const embedded = await sessions[0].run({ input_ids: ids });
  let hidden = embedded.hidden;
  for (const session of sessions.slice(1)) {
    const result = await session.run({ hidden, position_bias: embedded.position_bias });
    hidden = result.hidden_out ?? result.last_hidden_state;
  }
  encodeMs.push(performance.now() - t0);
}
// resourceUsage().maxRSS is in kilobytes.
console.log(JSON.stringify({ createMs, encodeMs, rssAfterLoadBytes, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
