/**
 * The image size of an OpenAI/Lumenfall-shaped request: `size` as "WxH" (exact) or "W:H"
 * (an aspect ratio), `aspect_ratio` ("16:9") and `resolution` (a tier "0.5K" / "1K" /
 * "2K", or megapixels: 1, "1.5", "2MP"). Precedence as Lumenfall's: a "WxH" size decides
 * shape and scale (aspect_ratio and resolution are then ignored); a "W:H" size is an
 * aspect ratio (and wins over `aspect_ratio`); the resolution sets the scale (default
 * 1K ≈ 1 megapixel). A "WxH" size is taken as it is (the engine refuses one it cannot
 * make, naming `size`); a ratio and a resolution are mapped to the nearest size the model
 * allows (sides a multiple of `multiple` within [min, max], ratio kept as well as the
 * limits let it), with a note for every value changed or ignored.
 */

/** What the sizes must be (the local engine: multiples of 16 from 256 to 1440). */
export interface SideRule {
  min: number;
  max: number;
  multiple: number;
}

/** A parse problem: the field and what is wrong (the facade turns it into its error shape). */
export interface SizeFieldProblem {
  field: 'size' | 'aspect_ratio' | 'resolution';
  message: string;
}

/** The size chosen, and what was changed or ignored on the way. */
export interface SizeChoice {
  width: number;
  height: number;
  notes: string[];
}

/** Megapixels of each resolution tier ("1K" ≈ 1024², "2K" ≈ 2048², "4K" ≈ 4096²). */
export const RESOLUTION_TIERS: Record<string, number> = { '0.5K': 0.25, '1K': 1, '2K': 4, '4K': 16 };

/** Pixels in one megapixel as the tiers count them (1024²). */
const MEGAPIXEL = 1024 * 1024;

/** "W:H" → [w, h] with positive integers, or undefined. */
export function parseAspectRatio(value: string): [number, number] | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(value);
  if (!match) return undefined;
  const w = Number(match[1]);
  const h = Number(match[2]);
  return w > 0 && h > 0 ? [w, h] : undefined;
}

/** A resolution as megapixels: a tier name, a number, or "N MP". Undefined when not one. */
export function parseResolution(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const tier = Object.keys(RESOLUTION_TIERS).find((t) => t.toLowerCase() === value.trim().toLowerCase());
  if (tier) return RESOLUTION_TIERS[tier];
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:mp|megapixels?)?\s*$/i.exec(value);
  const mp = match ? Number(match[1]) : Number.NaN;
  return mp > 0 ? mp : undefined;
}

/**
 * The sides nearest to `ratio` (w/h) and `pixels` that `rule` allows: ideal sides, each
 * rounded to the multiple, then scaled down (or up) together when one passes max (min).
 */
export function sidesFor(ratio: number, pixels: number, rule: SideRule): { width: number; height: number } {
  let width = Math.sqrt(pixels * ratio);
  let height = Math.sqrt(pixels / ratio);
  const over = Math.max(width / rule.max, height / rule.max, 1);
  width /= over;
  height /= over;
  const under = Math.max(rule.min / width, rule.min / height, 1);
  width *= under;
  height *= under;
  const fit = (v: number) => Math.min(rule.max, Math.max(rule.min, Math.round(v / rule.multiple) * rule.multiple));
  return { width: fit(width), height: fit(height) };
}

/**
 * The size a request asks for, fitted to `rule`.
 * @param request `size`, `aspect_ratio`, `resolution` as the caller sent them (any may be absent)
 * @param defaults the size used when none of them is given
 * @returns the size with notes, or the first problem found
 */
export function chooseSize(
  request: { size?: unknown; aspect_ratio?: unknown; resolution?: unknown },
  rule: SideRule,
  defaults: { width: number; height: number },
): SizeChoice | SizeFieldProblem {
  const notes: string[] = [];
  const { size, aspect_ratio: aspect, resolution } = request;
  if (size !== undefined && typeof size !== 'string') return { field: 'size', message: 'expected a string "WIDTHxHEIGHT" (e.g. "1024x1024") or "W:H" (e.g. "16:9")' };
  if (aspect !== undefined && (typeof aspect !== 'string' || !parseAspectRatio(aspect))) return { field: 'aspect_ratio', message: 'expected "W:H" with positive W and H, e.g. "16:9"' };
  const megapixels = resolution === undefined ? undefined : parseResolution(resolution);
  if (resolution !== undefined && megapixels === undefined) return { field: 'resolution', message: `expected a tier (${Object.keys(RESOLUTION_TIERS).join(', ')}) or megapixels (e.g. 1, "1.5MP")` };

  const exact = typeof size === 'string' ? /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/.exec(size) : null;
  const sizeRatio = typeof size === 'string' && !exact ? parseAspectRatio(size) : undefined;
  if (typeof size === 'string' && !exact && !sizeRatio) return { field: 'size', message: `expected "WIDTHxHEIGHT" (e.g. "1024x1024") or "W:H" (e.g. "16:9"), got ${JSON.stringify(size)}` };

  if (exact) {
    const asked = { width: Number(exact[1]), height: Number(exact[2]) };
    if (asked.width < 1 || asked.height < 1) return { field: 'size', message: `expected positive sides, got ${JSON.stringify(size)}` };
    if (aspect !== undefined) notes.push(`aspect_ratio ${String(aspect)} ignored: size ${size} sets the shape`);
    if (resolution !== undefined) notes.push(`resolution ${String(resolution)} ignored: size ${size} sets the scale`);
    // An exact size is taken as asked: one the model cannot make is the caller's error (as OpenAI answers it).
    return { ...asked, notes };
  }

  let ratio: [number, number] | undefined = sizeRatio ?? (typeof aspect === 'string' ? parseAspectRatio(aspect) : undefined);
  if (sizeRatio && aspect !== undefined) notes.push(`aspect_ratio ${String(aspect)} ignored: size ${String(size)} sets the shape`);
  if (!ratio && megapixels === undefined) return { ...defaults, notes };
  ratio ??= [defaults.width, defaults.height];
  const pixels = (megapixels ?? RESOLUTION_TIERS['1K']) * MEGAPIXEL;
  const chosen = sidesFor(ratio[0] / ratio[1], pixels, rule);
  const reachable = chosen.width * chosen.height;
  if (Math.abs(reachable - pixels) / pixels > 0.1) {
    notes.push(`resolution ${(pixels / MEGAPIXEL).toFixed(2)} MP → ${(reachable / MEGAPIXEL).toFixed(2)} MP (${chosen.width}x${chosen.height}: sides from ${rule.min} to ${rule.max})`);
  }
  const chosenRatio = chosen.width / chosen.height;
  const askedRatio = ratio[0] / ratio[1];
  if (Math.abs(Math.log(chosenRatio / askedRatio)) > 0.05) notes.push(`aspect ratio ${ratio[0]}:${ratio[1]} → ${chosen.width}x${chosen.height}, the nearest the sides allow`);
  return { ...chosen, notes };
}

/** Whether `chooseSize` answered with a problem. */
export function isSizeProblem(value: SizeChoice | SizeFieldProblem): value is SizeFieldProblem {
  return 'field' in value;
}
