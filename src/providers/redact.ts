/**
 * Keeps secrets out of every text made from a provider's answer. A provider or a proxy may
 * echo the request's headers in an error body ("invalid key sk-…", a debug dump of the
 * request); whatever becomes an error message, a progress event, a DOM node or a log line
 * passes through {@link SecretRedactor} first, so the API key (and the value of every
 * credential header the client sent) never does. Browser-safe, no dependencies.
 */

/** What replaces a secret. */
export const REDACTED = '[redacted]';

/** Header names whose values are credentials (their values are redacted wherever they are echoed). */
const CREDENTIAL_HEADER = /authorization|key|token|secret|cookie|signature|credential|password/i;

/** Secrets shorter than this are not redacted (no real API key is). */
const MIN_SECRET = 6;

/**
 * A secret's fragments at least this long are redacted too (a proxy that cuts or wraps an
 * echoed key must not leak most of it). Shorter secrets are matched whole only.
 */
const MIN_FRAGMENT = 8;

/** Whether a request header carries a credential (its value must never be shown). */
export function isCredentialHeader(name: string): boolean {
  return CREDENTIAL_HEADER.test(name);
}

/** Replaces secrets (the API key, credential header values) in texts and parsed JSON. */
export class SecretRedactor {
  /** Every form a secret may be echoed in, longest first. */
  private readonly forms: string[];
  /** Every `MIN_FRAGMENT`-character piece of the secrets long enough to have fragments. */
  private readonly fragments: Set<string>;

  /**
   * @param secrets the key and credential header values; values shorter than 6 characters
   *   are ignored (they would redact ordinary words, or bytes of a base64 image)
   */
  constructor(secrets: readonly (string | undefined)[]) {
    const values = new Set<string>();
    /** The bare keys (without a scheme such as "Bearer "): their fragments are redacted too. */
    const keys = new Set<string>();
    for (const secret of secrets) {
      if (!secret || secret.length < MIN_SECRET) continue;
      values.add(secret);
      // "Bearer sk-…", "Key abc:def": the token after the scheme is the key itself.
      const token = /^\S+\s+(\S{6,})$/.exec(secret)?.[1];
      if (token) values.add(token);
      keys.add(token ?? secret);
    }
    const forms = new Set<string>();
    for (const value of values) {
      forms.add(value);
      forms.add(encodeURIComponent(value));
      forms.add(JSON.stringify(value).slice(1, -1));
      forms.add(base64(value));
    }
    this.forms = [...forms].filter((form) => form.length >= MIN_SECRET).sort((a, b) => b.length - a.length);
    this.fragments = new Set();
    for (const value of keys) {
      if (value.length < 2 * MIN_FRAGMENT) continue;
      for (let i = 0; i + MIN_FRAGMENT <= value.length; i++) this.fragments.add(value.slice(i, i + MIN_FRAGMENT));
    }
  }

  /** Whether there is anything to redact. */
  get active(): boolean {
    return this.forms.length > 0;
  }

  /**
   * `text` with every secret, and every fragment of 8 or more characters of a long secret,
   * replaced by `[redacted]`. Use it on text that becomes a message, event or log line.
   */
  text(text: string): string {
    if (!this.active || !text) return text;
    let out = this.exact(text);
    if (this.fragments.size > 0 && out.length >= MIN_FRAGMENT) out = this.redactFragments(out);
    return out;
  }

  /**
   * A copy of parsed JSON with every string (values and keys) cleared of whole secrets.
   * Fast enough for large answers (base64 images): native substring search only.
   */
  json<T>(value: T): T {
    if (!this.active) return value;
    return this.walk(value) as T;
  }

  /**
   * Clears an error's message, stack and own string fields (in place) and returns it: the
   * last guard before an error leaves the provider code.
   */
  error<E extends Error>(error: E): E {
    if (!this.active) return error;
    const record = error as unknown as Record<string, unknown>;
    for (const key of ['message', 'stack', ...Object.keys(error)]) {
      const value = record[key];
      if (typeof value !== 'string') continue;
      const clean = this.text(value);
      if (clean === value) continue;
      try {
        record[key] = clean;
      } catch {
        // A read-only field: nothing to do (our errors have none).
      }
    }
    return error;
  }

  private exact(text: string): string {
    let out = text;
    for (const form of this.forms) if (out.includes(form)) out = out.split(form).join(REDACTED);
    return out;
  }

  private redactFragments(text: string): string {
    const hit = new Uint8Array(text.length);
    let any = false;
    for (let i = 0; i + MIN_FRAGMENT <= text.length; i++) {
      if (!this.fragments.has(text.slice(i, i + MIN_FRAGMENT))) continue;
      hit.fill(1, i, i + MIN_FRAGMENT);
      any = true;
    }
    if (!any) return text;
    let out = '';
    for (let i = 0; i < text.length; ) {
      if (!hit[i]) {
        out += text[i++];
        continue;
      }
      while (i < text.length && hit[i]) i++;
      out += REDACTED;
    }
    return out;
  }

  private walk(value: unknown): unknown {
    if (typeof value === 'string') return this.exact(value);
    if (Array.isArray(value)) return value.map((item) => this.walk(item));
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) out[this.exact(key)] = this.walk(item);
      return out;
    }
    return value;
  }
}

/** Base64 of a string's UTF-8 bytes (a proxy may echo `Basic` credentials or encoded headers). */
function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, '');
}
