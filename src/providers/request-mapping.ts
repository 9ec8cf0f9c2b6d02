/**
 * Fitting a checked request (`ValidRequest`, see request.ts) to one provider's rules: for
 * each value the provider cannot take either pick the nearest allowed one and note it
 * (default), or refuse with InvalidParameterError naming the field and what the provider
 * allows (`strict`). Nothing here re-checks the request.
 */
import type { OutputFormat } from '../api-types.ts';
import { InvalidParameterError } from '../errors.ts';
import type { ValidRequest } from '../request.ts';

/** The steps to send: undefined when the caller left them to the provider's default. */
export function requestedSteps(request: ValidRequest): number | undefined {
  return request.unset.includes('steps') ? undefined : request.steps;
}

/** The seed to send: undefined when the caller left it to the provider (a provider called on its own). */
export function requestedSeed(request: ValidRequest): number | undefined {
  return request.unset.includes('seed') ? undefined : request.seed;
}

/** Records adjustments for one request, or refuses them in strict mode. */
export class Adjustments {
  readonly notes: string[] = [];

  constructor(
    /** The provider's label, used in notes and errors. */
    readonly label: string,
    readonly strict: boolean,
  ) {}

  /**
   * A value the provider cannot take: refuse (strict) or note the replacement.
   * @param field the request field ('width', 'size', 'steps', …)
   * @param allowed what the provider allows, in words
   * @param received the value asked for
   * @param note the sentence recorded when not strict
   */
  adjust(field: string, allowed: string, received: unknown, note: string): void {
    if (this.strict) throw new InvalidParameterError(field, `${allowed} for ${this.label}`, received, 'provider-limit');
    this.notes.push(note);
  }

  /** A note that is not a refusal in strict mode (e.g. what the provider returned). */
  inform(note: string): void {
    this.notes.push(note);
  }

  /** An integer clamped into [min, max]; adjusted when outside. */
  clampInteger(field: string, value: number, min: number, max: number, why = ''): number {
    if (value >= min && value <= max) return value;
    const chosen = Math.min(max, Math.max(min, value));
    this.adjust(field, `an integer from ${min} to ${max}`, value, `${field} ${value} → ${chosen} (${this.label} allows ${min}–${max}${why ? `; ${why}` : ''})`);
    return chosen;
  }

  /** One of the `allowed` output formats; webp → jpeg, else the first allowed. */
  format(requested: OutputFormat, allowed: readonly OutputFormat[]): OutputFormat {
    if (allowed.includes(requested)) return requested;
    const chosen = requested === 'webp' && allowed.includes('jpeg') ? 'jpeg' : allowed[0];
    this.adjust('outputFormat', `one of ${allowed.join(', ')}`, requested, `outputFormat ${requested} → ${chosen} (${this.label} offers ${allowed.join(', ')})`);
    return chosen;
  }

  /**
   * A guidance scale (FLUX.1 [dev]) for a body: sets `field` when the model takes one,
   * else notes (or, strict, refuses) that it is not sent.
   */
  guidance(body: Record<string, unknown>, request: { guidance?: number }, model: string, field: string | undefined): void {
    if (request.guidance === undefined) return;
    if (field) body[field] = request.guidance;
    else this.unsupported('guidance', request.guidance, `${model} takes no guidance`);
  }

  /**
   * Adds the caller's extra fields to request bodies as they are; a field the mapping
   * already set is kept (noted).
   */
  extraFields(bodies: Record<string, unknown>[], extra: Readonly<Record<string, unknown>> | undefined): void {
    if (!extra) return;
    for (const [key, value] of Object.entries(extra)) {
      if (bodies.some((body) => key in body)) this.inform(`${key} from providerOptions not sent: the request already sets it`);
      else for (const body of bodies) body[key] = value;
    }
  }

  /** A value this provider has no field for: dropped (noted), or refused in strict mode. */
  unsupported(field: string, value: unknown, why: string): void {
    this.adjust(field, `absent (${why})`, value, `${field} ${String(value)} not sent (${why})`);
  }
}

/** Width and height in pixels. */
export interface Size {
  width: number;
  height: number;
}

/** `WxH`. */
export function sizeText(size: Size): string {
  return `${size.width}x${size.height}`;
}

/**
 * Each side rounded to the nearest multiple of `multiple` and clamped into [min, max]
 * (both multiples of `multiple`), adjusted per side.
 */
export function fitSides(adjust: Adjustments, size: Size, rule: { multiple: number; min: number; max: number }): Size {
  const fit = (v: number) => Math.min(rule.max, Math.max(rule.min, Math.round(v / rule.multiple) * rule.multiple));
  const chosen = { width: fit(size.width), height: fit(size.height) };
  if (chosen.width !== size.width || chosen.height !== size.height) {
    const allowed = `a multiple of ${rule.multiple} from ${rule.min} to ${rule.max}`;
    const field = chosen.width !== size.width ? 'width' : 'height';
    adjust.adjust(field, allowed, size[field], `size ${sizeText(size)} → ${sizeText(chosen)} (${adjust.label} takes sides that are multiples of ${rule.multiple} from ${rule.min} to ${rule.max})`);
  }
  return chosen;
}

/**
 * The allowed size nearest to `size`: closest aspect ratio first (log scale), then the
 * closest area. Returns the index into `allowed`.
 */
export function nearestSizeIndex(size: Size, allowed: readonly Size[]): number {
  const ratio = Math.log(size.width / size.height);
  const area = Math.log(size.width * size.height);
  let best = 0;
  let bestKey = [Infinity, Infinity];
  allowed.forEach((candidate, i) => {
    const key = [
      // Round so that ratios equal to display precision tie, then area decides.
      Math.round(Math.abs(Math.log(candidate.width / candidate.height) - ratio) * 1e6),
      Math.abs(Math.log(candidate.width * candidate.height) - area),
    ];
    if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) {
      best = i;
      bestKey = key;
    }
  });
  return best;
}

/** The nearest of a fixed set of sizes, adjusted when not exact. */
export function pickSize(adjust: Adjustments, size: Size, allowed: readonly Size[], why: string): Size {
  const chosen = allowed[nearestSizeIndex(size, allowed)];
  if (chosen.width !== size.width || chosen.height !== size.height) {
    adjust.adjust('size', `one of ${allowed.map(sizeText).join(', ')}`, sizeText(size), `size ${sizeText(size)} → ${sizeText(chosen)} (${why})`);
  }
  return chosen;
}

/** `W:H` reduced (e.g. 1024x768 → "4:3"), with the ratio clamped into [minRatio, maxRatio]. */
export function aspectRatioText(size: Size, bounds?: { min: [number, number]; max: [number, number] }): string {
  if (bounds) {
    const r = size.width / size.height;
    if (r > bounds.max[0] / bounds.max[1]) return `${bounds.max[0]}:${bounds.max[1]}`;
    if (r < bounds.min[0] / bounds.min[1]) return `${bounds.min[0]}:${bounds.min[1]}`;
  }
  const divisor = gcd(size.width, size.height);
  return `${size.width / divisor}:${size.height / divisor}`;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
