/**
 * The widget's optional input picture (image-to-image): a drop zone that also takes a
 * pasted picture and opens a file chooser, the picture's thumbnail with a Remove button,
 * and the strength slider with its meaning spelled out. DOM only; the element
 * (flux-generator.ts) keeps the picture and decides.
 */
import { DEFAULTS } from '../defaults.ts';
import { h } from './dom.ts';

/** The parts of the input-picture fieldset. */
export interface InputImageView {
  fieldset: HTMLFieldSetElement;
  /** The drop zone (also a button opening the file chooser). */
  drop: HTMLButtonElement;
  file: HTMLInputElement;
  thumb: HTMLImageElement;
  remove: HTMLButtonElement;
  strength: HTMLInputElement;
  strengthText: HTMLOutputElement;
  strengthRow: HTMLDivElement;
}

/** What the slider's value means, in words. */
export function strengthWords(strength: number): string {
  const changed = strength >= 0.95 ? 'redrawn almost entirely' : strength >= 0.7 ? 'changed a lot' : strength >= 0.4 ? 'changed moderately' : 'changed a little';
  return `${strength.toFixed(2)}: the picture is ${changed} (0 would keep it unchanged, 1 regenerates it fully)`;
}

/** Builds the fieldset ("Start from a picture (optional)"). */
export function buildInputImageView(): InputImageView {
  const file = h('input', { id: 'input-image-file', name: 'input-image', type: 'file', accept: 'image/png,image/jpeg,image/webp', part: 'input-image-file', class: 'visually-hidden', tabindex: -1, 'aria-hidden': 'true' });
  const drop = h('button', { type: 'button', id: 'input-image', class: 'drop secondary', part: 'input-image-drop', 'aria-describedby': 'input-image-hint' }, 'Choose, drop or paste a picture');
  const thumb = h('img', { part: 'input-image', class: 'input-thumb', alt: 'The input picture', hidden: true, decoding: 'async' });
  const remove = h('button', { type: 'button', id: 'input-image-remove', class: 'secondary small', part: 'input-image-remove', hidden: true, 'aria-label': 'Remove the input picture' }, 'Remove');
  const strength = h('input', { id: 'strength', name: 'strength', type: 'range', part: 'strength input', min: 0.05, max: 1, step: 0.05, 'aria-describedby': 'strength-text' });
  strength.value = String(DEFAULTS.strength);
  const strengthText = h('output', { id: 'strength-text', for: 'strength', class: 'hint' }, strengthWords(DEFAULTS.strength));
  const strengthRow = h('div', { class: 'field', hidden: true }, h('label', { for: 'strength', class: 'label', part: 'label' }, 'Strength'), strength, strengthText);
  const fieldset = h('fieldset', { class: 'input-image', part: 'input-image-fieldset' },
    h('legend', {}, 'Start from a picture (optional)'),
    h('div', { class: 'input-row' }, drop, thumb, remove),
    file,
    h('p', { id: 'input-image-hint', class: 'hint' }, 'PNG, JPEG or WebP. It is fitted to the width and height (centre-cropped) and stays on this device unless a hosted provider makes the image.'),
    strengthRow);
  strength.addEventListener('input', () => (strengthText.textContent = strengthWords(Number(strength.value))));
  drop.addEventListener('click', () => file.click());
  return { fieldset, drop, file, thumb, remove, strength, strengthText, strengthRow };
}

/** Shows the picture (an object URL) or none. */
export function renderInputImage(view: InputImageView, url: string | undefined): void {
  view.thumb.hidden = !url;
  view.remove.hidden = !url;
  view.strengthRow.hidden = !url;
  if (url) view.thumb.src = url;
  else view.thumb.removeAttribute('src');
  view.drop.textContent = url ? 'Replace the picture' : 'Choose, drop or paste a picture';
}
