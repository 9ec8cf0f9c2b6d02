/**
 * Shared by the widget and app browser tests (test/browser/widget.test.ts, app.test.ts):
 * building the static site once into a temporary folder, watching the Content-Security-
 * Policy, finding the focused element across shadow roots, saving screenshots.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decode } from 'fast-png';
import type { Page } from 'playwright-core';
import { build } from 'vite';

export const ROOT = resolve(import.meta.dirname, '../../..');
/** Where screenshots go (gitignored; CI keeps it as an artifact). */
export const RESULTS = join(ROOT, 'test-results');

/**
 * Builds the site (`vite build`: index.html, embed.html, widget.js) into `outDir`, as
 * `npm run build` does.
 * @param connectSrc extra connect-src origins for the CSP (FLUX_CSP_CONNECT_SRC)
 */
export async function buildSite(outDir: string, connectSrc = ''): Promise<void> {
  const before = process.env.FLUX_CSP_CONNECT_SRC;
  process.env.FLUX_CSP_CONNECT_SRC = connectSrc;
  try {
    // publicDir off: public/models/demo (made by `npm start`) may be absent or being rewritten;
    // the tests serve a demo package of their own.
    await build({ configFile: join(ROOT, 'vite.config.ts'), root: ROOT, logLevel: 'warn', publicDir: false, build: { outDir, emptyOutDir: true } });
    copyFileSync(join(ROOT, 'public/favicon.svg'), join(outDir, 'favicon.svg'));
  } finally {
    if (before === undefined) delete process.env.FLUX_CSP_CONNECT_SRC;
    else process.env.FLUX_CSP_CONNECT_SRC = before;
  }
}

/** A CSP violation as the page saw it. */
export interface CspViolation {
  directive: string;
  blocked: string;
  sample: string;
  source: string;
  frame: string;
}

/**
 * Records every `securitypolicyviolation` event of every frame of `page` (and console
 * messages about the Content-Security-Policy), across navigations and reloads.
 */
export async function watchCsp(page: Page): Promise<{ violations: CspViolation[]; consoleErrors: string[] }> {
  const record = { violations: [] as CspViolation[], consoleErrors: [] as string[] };
  await page.exposeBinding('__reportCspViolation', (_source, violation: CspViolation) => void record.violations.push(violation));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __reportCspViolation(v: unknown): void }).__reportCspViolation({
        directive: e.effectiveDirective,
        blocked: e.blockedURI,
        sample: e.sample,
        source: `${e.sourceFile}:${e.lineNumber}`,
        frame: location.href,
      });
    }, true);
  });
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) record.consoleErrors.push(message.text());
  });
  return record;
}

/** Describes the focused element, looking through open shadow roots. */
export async function deepFocus(page: Page): Promise<{ path: string; tag: string; id: string; part: string; label: string; focusVisible: boolean; outline: string; visible: boolean } | null> {
  return page.evaluate(() => {
    let active: Element | null = document.activeElement;
    const path: string[] = [];
    while (active && active.shadowRoot && active.shadowRoot.activeElement) {
      path.push(active.id || active.tagName.toLowerCase());
      active = active.shadowRoot.activeElement;
    }
    if (!active || active === document.body || active === document.documentElement) return null;
    const el = active as HTMLElement;
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    const label = el.getAttribute('aria-label') || (el as HTMLInputElement).labels?.[0]?.textContent?.trim() || el.textContent?.trim() || '';
    return {
      path: [...path, el.id || el.getAttribute('part') || el.tagName.toLowerCase()].join(' > '),
      tag: el.tagName.toLowerCase(),
      id: el.id,
      part: el.getAttribute('part') ?? '',
      label: label.slice(0, 80),
      focusVisible: el.matches(':focus-visible'),
      outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
      visible: rect.width > 0 && rect.height > 0 && style.visibility !== 'hidden',
    };
  });
}

/** Saves a full-page screenshot under test-results/ and prints its path. */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, `${name}.png`);
  // caret: 'initial': Playwright's caret hiding would inject a <style>, which the CSP (rightly) refuses.
  await page.screenshot({ path, fullPage: options.fullPage ?? true, caret: 'initial', animations: 'allow' });
  console.log(`screenshot: ${path}`);
  return path;
}

/** RGBA pixels of a PNG. */
export function pngPixels(bytes: Uint8Array): { width: number; height: number; data: Uint8Array } {
  const png = decode(bytes);
  return { width: png.width, height: png.height, data: png.data as Uint8Array };
}
