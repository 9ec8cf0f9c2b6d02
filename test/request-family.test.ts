/**
 * Steps and guidance per model family: validated once (1–50 steps, guidance 1.5–5), then
 * the package's own defaults filled in (28 steps and guidance 3.5 for FLUX.1 [dev], 4
 * steps and no guidance for [schnell]); a guidance for [schnell] is refused.
 */
import { describe, expect, it } from 'vitest';
import { FAMILY_DEFAULTS } from '../src/defaults.ts';
import { resolveForFamily, validateRequest } from '../src/request.ts';
import { InvalidParameterError } from '../src/errors.ts';
import { familyOfTransformerConfig, modelFamily } from '../src/models/family.ts';

const base = { prompt: 'a red fox', width: 512, height: 512 };
const valid = (extra: Record<string, unknown> = {}) => validateRequest({ ...base, ...extra });

describe('guidance and steps', () => {
  it('are optional; given values are range-checked with errors naming the field', () => {
    expect(valid()).toMatchObject({ unset: ['steps'] });
    expect(valid().guidance).toBeUndefined();
    expect(valid({ steps: 50, guidance: 1.5 })).toMatchObject({ steps: 50, guidance: 1.5, unset: [] });
    for (const [field, value] of [['guidance', 1.4], ['guidance', 5.01], ['guidance', Number.NaN], ['guidance', '3'], ['steps', 0], ['steps', 51], ['steps', 2.5]] as const) {
      const error = (() => {
        try {
          validateRequest({ ...base, [field]: value } as never);
        } catch (e) {
          return e;
        }
      })();
      expect(error, `${field} ${String(value)}`).toBeInstanceOf(InvalidParameterError);
      expect((error as InvalidParameterError).field).toBe(field);
    }
  });

  it("fill in the package family's defaults", () => {
    expect(resolveForFamily(valid(), 'dev', 'dev-model')).toEqual({ steps: 28, guidance: 3.5, warnings: [] });
    expect(resolveForFamily(valid({ steps: 12, guidance: 5 }), 'dev', 'dev-model')).toEqual({ steps: 12, guidance: 5, warnings: [] });
    expect(resolveForFamily(valid(), 'schnell', 's')).toEqual({ steps: 4, guidance: undefined, warnings: [] });
    expect(resolveForFamily(valid({ steps: 4 }), 'schnell', 's')).toEqual({ steps: 4, guidance: undefined, warnings: [] });
    const many = resolveForFamily(valid({ steps: 8 }), 'schnell', 's');
    expect(many.steps).toBe(8);
    expect(many.warnings.join(' ')).toMatch(/FLUX\.1 \[schnell\] is distilled for 1-4 steps; 8 steps/);
    expect(FAMILY_DEFAULTS.dev.steps).toBe(28);
  });

  it('refuse a guidance for a [schnell] package with a typed error that says why', () => {
    let error: unknown;
    try {
      resolveForFamily(valid({ guidance: 3.5 }), 'schnell', 'black-forest-labs/FLUX.1-schnell');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error).toMatchObject({ field: 'guidance', received: 3.5, reason: 'conflict' });
    expect((error as Error).message).toBe('guidance must be absent for black-forest-labs/FLUX.1-schnell: FLUX.1 [schnell] is not guidance-distilled (guidance 1.5-5 applies to FLUX.1 [dev]) (got 3.5)');
  });

  it('tell the family from the transformer config', () => {
    expect(familyOfTransformerConfig({ guidance_embeds: true })).toBe('dev');
    expect(familyOfTransformerConfig({ guidance_embeds: false })).toBe('schnell');
    expect(familyOfTransformerConfig(undefined)).toBe('schnell');
    expect(modelFamily({ configs: { transformer: { guidance_embeds: true }, vae: {} } })).toBe('dev');
  });
});
