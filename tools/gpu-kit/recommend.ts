/**
 * What the kit's numbers say about each choice. Correctness first: a variant that fails
 * its check is never recommended, a default that fails its own check is reported on its
 * own, and an alternative that passes where the default fails is recommended whatever its
 * speed. Otherwise an alternative is recommended only when it is faster than the default
 * beyond the run-to-run spread (at least 3 %) at every shard and size it was timed at.
 */
import type { Recommendation, ShardResult } from './kit-report.ts';
import type { KitVariant } from './variants.ts';

const at = (r: ShardResult) => `${r.shard}${r.size ? ` ${r.size}²` : ''}`;
const err = (r: ShardResult) => r.check!.relL2.toExponential(2);

/** The default variants' (those that are no alternative) failed checks, as lines. */
export function defaultFailures(rows: ShardResult[], variants: KitVariant[]): string[] {
  const defaults = new Set(variants.filter((v) => !v.alternativeTo).map((v) => v.name));
  return rows.filter((r) => defaults.has(r.variant) && r.check && !r.check.pass).map((r) => `${r.variant} ${at(r)}: ${err(r)} > ${r.check!.tolerance.toExponential(2)} against ${r.check!.reference}`);
}

/** One recommendation per alternative variant that was asked for. */
export function recommend(rows: ShardResult[], variants: KitVariant[]): Recommendation[] {
  const out: Recommendation[] = [];
  for (const variant of variants) {
    if (!variant.alternativeTo) continue;
    const { choice, variant: against } = variant.alternativeTo;
    const rec = (decision: Recommendation['decision'], reason: string) => out.push({ choice, variant: variant.name, against, decision, reason });
    const mine = rows.filter((r) => r.variant === variant.name);
    const baseOf = (r: ShardResult) => rows.find((x) => x.variant === against && x.shard === r.shard && x.size === r.size && x.status === 'ok');
    if (!mine.length || mine.some((r) => r.status !== 'ok')) {
      rec('not measured', mine.find((r) => r.status !== 'ok')?.message ?? 'no results');
      continue;
    }
    const checked = mine.filter((r) => r.check);
    if (!checked.length) {
      rec('keep default', 'not checked');
      continue;
    }
    const failed = checked.filter((r) => !r.check!.pass);
    if (failed.length) {
      // Failing like the default (about the same error) points at a kernel both use.
      const likeDefault = failed.every((r) => {
        const b = baseOf(r);
        return b?.check && !b.check.pass && b.check.relL2 >= 0.5 * r.check!.relL2;
      });
      const list = failed.map((r) => `${at(r)} ${err(r)} > ${r.check!.tolerance.toExponential(2)}`).join(', ');
      rec(likeDefault ? 'undecided' : 'keep default', likeDefault ? `fails its check (${list}) as ${against} does: fix the default first` : `fails its check: ${list}`);
      continue;
    }
    const baseFailing = checked.map(baseOf).filter((b): b is ShardResult => Boolean(b?.check && !b.check.pass));
    if (baseFailing.length) {
      rec('use', `${against} fails its check (${baseFailing.map((b) => `${at(b)} ${err(b)}`).join(', ')}) and this passes (${checked.map((r) => `${at(r)} ${err(r)}`).join(', ')})`);
      continue;
    }
    const ratios: string[] = [];
    let faster = true;
    for (const r of mine) {
      const b = baseOf(r);
      if (!b?.medianMs || !r.medianMs) {
        faster = false;
        continue;
      }
      const noise = Math.max(0.03, b.spread ?? 0, r.spread ?? 0);
      if (!(r.medianMs < b.medianMs * (1 - noise))) faster = false;
      ratios.push(`${at(r)} ${(b.medianMs / r.medianMs).toFixed(2)}×`);
    }
    rec(faster ? 'use' : 'keep default', `${faster ? 'faster beyond the run-to-run spread' : 'not faster at every shard and size'} (speed-up over ${against}: ${ratios.join(', ')}); checks passed (${checked.map((r) => `${at(r)} ${err(r)}`).join(', ')})`);
  }
  return out;
}
