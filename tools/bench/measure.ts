/**
 * Small measuring helpers shared by the benchmarks: byte and time formatting, plain-text
 * tables, folder sizes, a child process run with its peak RSS, and a `ModelRuntime`
 * wrapper that times every `session.run` by graph.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { GraphEntry } from '../../src/package/manifest.ts';
import type { GraphSession, ModelRuntime } from '../../src/pipeline/runtime.ts';

/** Sizes are written as everywhere else (decimal units, src/format-bytes.ts). */
export { formatBytes } from '../../src/format-bytes.ts';

/** "850 ms", "12.34 s", "3 min 05 s". */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** "12.3 %". */
export function formatPercent(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '-';
}

/**
 * A plain-text table; cells that look like a number (with a unit) are right-aligned
 * unless `leftAlign`.
 * @param rows first row is the header
 */
export function table(rows: string[][], { leftAlign = false } = {}): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const numeric = /^[-+]?[\d.,]+\s*(%|B|KiB|MiB|GiB|TiB|ms|s|x|×)?$/;
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i > 0 && !leftAlign && numeric.test(cell) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const row of rows.slice(1)) out.push(line(row));
  return out.join('\n');
}

/** Total size of the regular files under `dir` (apparent sizes), recursively. */
export function dirSize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += dirSize(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** Result of `runMeasured`. */
export interface MeasuredRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, milliseconds. */
  wallMs: number;
  /** Peak resident set size reported by `/usr/bin/time -v`, bytes (absent when it is not installed). */
  timePeakRssBytes?: number;
}

const GNU_TIME = '/usr/bin/time';

/**
 * Runs a command to completion, under `/usr/bin/time -v` when it exists, collecting
 * stdout and stderr. `onStderrLine` sees the child's own stderr lines as they come.
 */
export function runMeasured(command: string, args: string[], options: { cwd?: string; onStderrLine?: (line: string) => void } = {}): Promise<MeasuredRun> {
  const useTime = existsSync(GNU_TIME);
  const [file, argv] = useTime ? [GNU_TIME, ['-v', command, ...args]] : [command, args];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      // GNU time's report starts with "\tCommand being timed"; keep it out of the live log.
      for (const line of lines) if (!line.startsWith('\t') && !line.startsWith('Command exited')) options.onStderrLine?.(line);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      const match = /Maximum resident set size \(kbytes\):\s*(\d+)/.exec(stderr);
      resolve({ code, stdout, stderr, wallMs, timePeakRssBytes: match ? Number(match[1]) * 1024 : undefined });
    });
  });
}

/** One timed `session.run`. */
export interface RunEvent {
  graph: string;
  role: GraphEntry['role'];
  /** performance.now() at the call and at its completion. */
  start: number;
  end: number;
}

/**
 * A runtime whose sessions record every `run` into `events`. Everything else is passed
 * through to `inner` unchanged (a Proxy, so members added to ModelRuntime later keep working).
 */
export function timedRuntime<R extends ModelRuntime>(inner: R): { runtime: R; events: RunEvent[] } {
  const events: RunEvent[] = [];
  const session = async (graph: GraphEntry): Promise<GraphSession> => {
    const real = await inner.session(graph);
    return {
      async run(feeds) {
        const start = performance.now();
        const out = await real.run(feeds);
        events.push({ graph: graph.name, role: graph.role, start, end: performance.now() });
        return out;
      },
    };
  };
  const runtime = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'session') return session;
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { runtime, events };
}
