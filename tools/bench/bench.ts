/**
 * What a benchmark looks like to `npm run bench` (tools/bench/run.ts). Each benchmark
 * lives in its own file under tools/bench/ and is listed in run.ts.
 */

/** Options from the command line, shared by all benchmarks (each uses what applies). */
export interface BenchOptions {
  /** Denoising steps (default 4). */
  steps: number;
  /** Image side in pixels (default 256). */
  size: number;
  /** Noise and prompt-embedding seed. */
  seed: number;
  /** Keep temporary folders (their paths are printed) instead of deleting them. */
  keep: boolean;
  /** Progress and section output. */
  log: (line?: string) => void;
}

/** A benchmark's headline figures for the final summary: [metric, value] pairs. */
export type BenchSummary = [string, string][];

export interface Bench {
  /** Short id used with --only. */
  name: string;
  description: string;
  /** Runs only when named with --only (e.g. a multi-hour proof), not in a plain `npm run bench`. */
  onlyWhenNamed?: boolean;
  run(options: BenchOptions): Promise<BenchSummary>;
}
