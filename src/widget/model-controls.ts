/**
 * The parts of the widget's form that depend on the model family: the steps offered
 * (1–4 for FLUX.1 [schnell]; up to 50, 28 by default, for [dev]) and the guidance field
 * (1.5–5, default 3.5), shown only for guidance-distilled ([dev]) packages. The family
 * comes from the package's manifest (through the device check, which reads only it).
 */
import { FAMILY_DEFAULTS, LIMITS } from '../defaults.ts';
import type { ModelFamily } from '../models/family.ts';
import type { FormDefaults } from './config.ts';

/** Step counts the select offers per family (any 1–50 is accepted through attributes and the API). */
const STEP_CHOICES: Record<ModelFamily, readonly number[]> = {
  schnell: [1, 2, 3, 4],
  dev: [8, 12, 16, 20, 24, 28, 32, 40, 50],
};

/** The guidance field and the family-dependent steps. */
export class ModelControls {
  /** The guidance `<input>`, inside its field. */
  readonly guidance: HTMLInputElement;
  private readonly field: HTMLDivElement;
  private family: ModelFamily = 'schnell';

  /**
   * @param steps the form's steps select (its options are replaced per family)
   */
  constructor(private readonly steps: HTMLSelectElement) {
    const guidance = document.createElement('input');
    Object.assign(guidance, { id: 'guidance', name: 'guidance', type: 'number', step: '0.1', min: String(LIMITS.guidance.min), max: String(LIMITS.guidance.max), inputMode: 'decimal' });
    guidance.setAttribute('part', 'input');
    guidance.value = String(FAMILY_DEFAULTS.dev.guidance);
    const label = document.createElement('label');
    label.htmlFor = 'guidance';
    label.className = 'label';
    label.setAttribute('part', 'label');
    label.textContent = 'Guidance';
    const field = document.createElement('div');
    field.className = 'field';
    field.hidden = true;
    field.append(label, guidance);
    // Right after the steps field.
    steps.closest('.field')?.after(field);
    this.guidance = guidance;
    this.field = field;
    this.setStepChoices(STEP_CHOICES.schnell, Number(steps.value) || FAMILY_DEFAULTS.schnell.steps);
  }

  /** The family the controls show (default [schnell]). */
  get current(): ModelFamily {
    return this.family;
  }

  /**
   * Shows the controls of `family`, with the attribute values where given and the model's
   * own defaults otherwise; `keepUserInput` keeps what the user chose.
   */
  apply(family: ModelFamily, defaults: Pick<FormDefaults, 'steps' | 'stepsGiven' | 'guidance'>, keepUserInput: boolean): void {
    const changed = family !== this.family;
    this.family = family;
    const steps = keepUserInput && !changed ? Number(this.steps.value) : defaults.stepsGiven ? defaults.steps : FAMILY_DEFAULTS[family].steps;
    this.setStepChoices(STEP_CHOICES[family], steps);
    this.field.hidden = family !== 'dev';
    if (!keepUserInput || changed) this.guidance.value = String(defaults.guidance ?? FAMILY_DEFAULTS.dev.guidance);
  }

  /** The guidance to send: the field's value for [dev], undefined for [schnell] (NaN when not a number, refused by validation). */
  value(): number | undefined {
    if (this.family !== 'dev') return undefined;
    return this.guidance.value.trim() === '' ? undefined : Number(this.guidance.value);
  }

  /** Marks the guidance field as refused and focuses it. */
  markInvalid(): void {
    this.guidance.setAttribute('aria-invalid', 'true');
    this.guidance.focus();
  }

  private setStepChoices(choices: readonly number[], selected: number): void {
    const values = [...new Set([...choices, selected])].filter((n) => Number.isInteger(n) && n >= LIMITS.steps.min && n <= LIMITS.steps.max).sort((a, b) => a - b);
    this.steps.replaceChildren(...values.map((n) => {
      const option = document.createElement('option');
      option.value = String(n);
      option.textContent = String(n);
      return option;
    }));
    this.steps.value = String(selected);
  }
}
