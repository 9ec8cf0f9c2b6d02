/**
 * Runs one conversion in its own process so the bench can read that process's peak RSS:
 *
 *   node --import tsx tools/bench/convert-child.ts <checkpoint> <out> [weights] [maxShardMb]
 *
 * Progress goes to stderr; the last stdout line is JSON:
 * { convertMs, maxRssBytes, manifestPath }. With `--baseline` as the only argument it
 * converts nothing and reports the RSS of the process with the converter's modules loaded.
 */
import { join } from 'node:path';
import type { WeightPrecision } from '../../src/package/manifest.ts';
import { convertCheckpoint } from '../convert/convert-local.ts';

const [checkpoint, out, weights = 'q4', maxShardMb] = process.argv.slice(2);
if (checkpoint === '--baseline') {
  console.log(JSON.stringify({ convertMs: 0, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
  process.exit(0);
}
if (!checkpoint || !out) {
  console.error('usage: convert-child.ts <checkpoint> <out> [weights] [maxShardMb]');
  process.exit(2);
}
const started = performance.now();
await convertCheckpoint({
  checkpoint,
  out,
  weights: weights as WeightPrecision,
  maxShardMb: maxShardMb ? Number(maxShardMb) : undefined,
  log: (line) => console.error(line),
});
const convertMs = performance.now() - started;
// resourceUsage().maxRSS is in kilobytes (getrusage ru_maxrss).
console.log(JSON.stringify({ convertMs, maxRssBytes: process.resourceUsage().maxRSS * 1024, manifestPath: join(out, 'manifest.json') }));
