/**
 * The CLI's `generate` flags → one `ValidRequest`, through the library's own
 * `validateRequest` (src/request.ts): the CLI checks a request exactly as the library and
 * the widget do, and its errors name the flag (`--width`, `--num-images`, …) with the same
 * class, allowed range and reason.
 */
import type { OutputFormat, PromptEmbeddings } from '../src/api-types.ts';
import { InvalidParameterError } from '../src/errors.ts';
import { validateRequest, type RequestRules, type ValidRequest } from '../src/request.ts';

/** The flag that sets each request field. */
export const FLAG_OF_FIELD: Record<string, string> = {
  params: '--prompt',
  prompt: '--prompt',
  promptEmbeddings: '--prompt-embeds',
  'promptEmbeddings.promptEmbeds': '--prompt-embeds',
  'promptEmbeddings.pooledPromptEmbeds': '--prompt-embeds',
  width: '--width',
  height: '--height',
  steps: '--steps',
  guidance: '--guidance',
  seed: '--seed',
  numImages: '--num-images',
  outputFormat: '--out',
};

/** The request flags of `generate`, as text (as parsed from the command line). */
export interface RequestFlags {
  prompt?: string;
  width?: string;
  height?: string;
  steps?: string;
  guidance?: string;
  seed?: string;
  'num-images'?: string;
}

/**
 * A number flag: undefined when absent.
 * @throws InvalidParameterError (reason `wrong-type`) naming the flag when the text is not a number
 */
export function numberFlag(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(text)) throw new InvalidParameterError(flag, 'a number', raw, 'wrong-type');
  return Number(text);
}

/** The same error with the flag as its field. */
export function asFlagError(error: unknown): unknown {
  if (!(error instanceof InvalidParameterError)) return error;
  if (error.field.startsWith('--')) return error;
  const flag = FLAG_OF_FIELD[error.field] ?? `--${error.field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  return new InvalidParameterError(flag, error.allowed, error.received, error.reason);
}

/**
 * Checks and defaults `generate`'s request flags.
 * @param embeddings from `--prompt-embeds`, when given
 * @param outputFormat from `--out`'s extension
 * @param rules 'any' sizes for the local pipeline (tiny test packages), 'web' for hosted providers
 * @throws InvalidParameterError naming the flag
 */
export function requestFromFlags(flags: RequestFlags, rules: RequestRules, embeddings?: PromptEmbeddings, outputFormat?: OutputFormat): ValidRequest {
  try {
    return validateRequest(
      {
        prompt: flags.prompt,
        promptEmbeddings: embeddings,
        width: numberFlag('--width', flags.width),
        height: numberFlag('--height', flags.height),
        steps: numberFlag('--steps', flags.steps),
        guidance: numberFlag('--guidance', flags.guidance),
        seed: numberFlag('--seed', flags.seed),
        numImages: numberFlag('--num-images', flags['num-images']),
        outputFormat,
      },
      rules,
    );
  } catch (error) {
    throw asFlagError(error);
  }
}
