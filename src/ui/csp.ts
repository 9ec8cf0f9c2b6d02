/**
 * Reads the page's own Content-Security-Policy (the `<meta http-equiv>` in index.html)
 * so the provider settings can say, before anything is sent, when this site does not
 * allow connections to a provider's URL (the browser would block them).
 */

/** The source list of `connect-src` (or `default-src`) of the page's meta CSP; undefined without one. */
export function connectSources(doc: Document = document): string[] | undefined {
  const meta = doc.querySelector<HTMLMetaElement>('meta[http-equiv="Content-Security-Policy" i]');
  if (!meta) return undefined;
  const directives = new Map<string, string[]>();
  for (const part of meta.content.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), sources);
  }
  return directives.get('connect-src') ?? directives.get('default-src');
}

/** Whether one CSP host-source (e.g. `https://*.bfl.ai`, `http://127.0.0.1:*`, `'self'`) matches `url`. */
export function sourceMatches(source: string, url: URL, self: URL): boolean {
  if (source === "'self'") return url.origin === self.origin;
  if (source === '*') return url.protocol === 'https:' || url.protocol === 'http:';
  if (/^[a-z][a-z0-9+.-]*:$/i.test(source)) return url.protocol === source.toLowerCase();
  const match = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\*\.)?([^:/]+|\*)(?::(\d+|\*))?(\/.*)?$/i.exec(source);
  if (!match) return false;
  const [, scheme, wildcard, host, port, path] = match;
  if (scheme && `${scheme.toLowerCase()}:` !== url.protocol && !(scheme.toLowerCase() === 'http' && url.protocol === 'https:')) return false;
  const hostname = url.hostname.toLowerCase();
  const wanted = host.toLowerCase();
  if (wanted !== '*') {
    if (wildcard ? !hostname.endsWith(`.${wanted}`) : hostname !== wanted) return false;
  }
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  if (port !== '*' && (port ?? (scheme ? (scheme.toLowerCase() === 'https' ? '443' : '80') : defaultPort)) !== (url.port || defaultPort)) return false;
  if (path && path !== '/' && !url.pathname.startsWith(path)) return false;
  return true;
}

/** Whether the page's CSP lets it connect to `url` (true when the page has no meta CSP). */
export function connectAllowed(url: string, doc: Document = document): boolean {
  const sources = connectSources(doc);
  if (!sources) return true;
  let target: URL;
  try {
    target = new URL(url, doc.baseURI);
  } catch {
    return false;
  }
  const self = new URL(doc.baseURI);
  return sources.some((source) => sourceMatches(source, target, self));
}
