/**
 * The live token counter under the widget's prompt: while the user types it says how the
 * prompt fits the local model's text encoders ("T5: 212 / 256 tokens; CLIP: 77 / 77
 * tokens (90 needed), keeps the first 41 of 60 words") and shows the words each encoder
 * will not see, before anything is generated. Counting runs in the generator's worker on
 * the package's own tokenizers (`Generator.countTokens`): it reads only the tokenizer
 * files and sends nothing anywhere. Hidden when there is no local model or no prompt.
 */
import { DEFAULTS } from '../defaults.ts';
import type { Generator } from '../generator.ts';
import { describeTokenCount, type EncoderTokenCount, type TokenCount } from '../text/token-count.ts';

/** The words of `prompt` an encoder drops, in the user's own spelling. */
function droppedWords(prompt: string, count: EncoderTokenCount): string {
  return (prompt.match(/\S+/g) ?? []).slice(count.keptWords).join(' ');
}

/** The counter element and its updating; one per widget. */
export class TokenCounter {
  /** `<p part="token-count">`, placed after the prompt's hint. */
  readonly element: HTMLParagraphElement;
  private timer?: ReturnType<typeof setTimeout>;
  private request = 0;

  /**
   * @param prompt the prompt textarea (the counter follows its `input` events)
   * @param generator the widget's current generator with a local model, or null
   */
  constructor(
    private readonly prompt: HTMLTextAreaElement,
    private readonly generator: () => Generator | null | undefined,
  ) {
    const element = document.createElement('p');
    element.className = 'token-count';
    element.id = 'token-count';
    element.setAttribute('part', 'token-count');
    element.setAttribute('aria-live', 'polite');
    element.hidden = true;
    this.element = element;
    prompt.parentElement?.append(element);
    const described = prompt.getAttribute('aria-describedby');
    prompt.setAttribute('aria-describedby', described ? `${described} token-count` : 'token-count');
    prompt.addEventListener('input', () => this.schedule());
  }

  /** Counts again after the user pauses typing (`DEFAULTS.tokenCountDelayMs`), or after `delayMs`. */
  schedule(delayMs: number = DEFAULTS.tokenCountDelayMs): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), delayMs);
  }

  /** Whether a count is shown (then a model change should refresh it). */
  get shown(): boolean {
    return !this.element.hidden;
  }

  /** Counts the current prompt now; hides the counter when it cannot count. */
  async refresh(): Promise<TokenCount | undefined> {
    clearTimeout(this.timer);
    const request = ++this.request;
    const generator = this.generator();
    const text = this.prompt.value;
    if (!generator || text.trim() === '') {
      this.element.hidden = true;
      return undefined;
    }
    try {
      const count = await generator.countTokens(text);
      if (request === this.request) this.render(text, count);
      return count;
    } catch {
      // No local model, no text encoders, or offline: the counter simply stays away.
      if (request === this.request) this.element.hidden = true;
      return undefined;
    }
  }

  private render(prompt: string, count: TokenCount): void {
    const lines: Node[] = [document.createTextNode(describeTokenCount(count))];
    const over: string[] = [];
    for (const [name, c] of [['CLIP', count.clip], ['T5', count.t5]] as const) {
      if (c.tokens <= c.maxTokens) continue;
      over.push(name.toLowerCase());
      const line = document.createElement('span');
      line.className = 'dropped';
      line.dataset.encoder = name.toLowerCase();
      line.textContent = `${name} will not see: “${droppedWords(prompt, c)}”`;
      lines.push(line);
    }
    this.element.replaceChildren(...lines);
    this.element.dataset.over = over.join(' ');
    this.element.hidden = false;
  }
}
