/**
 * The worker's half of the watchdog (the page's half is src/worker-connection.ts). The
 * page sends `{[WATCHDOG_MESSAGE]: {lock}}` with a MessagePort; the worker then
 * - holds the Web Lock named `lock` for as long as it lives: the browser releases it when
 *   the worker ends for any reason (terminated, closed, crashed), which the page notices
 *   at once by waiting for the same lock;
 * - answers `{ping: n}` on the port with `{pong: n}` (a heartbeat, for browsers without
 *   Web Locks and for a worker that stops answering);
 * - posts `{alive: true, lock: held}` once both are set up.
 */

/** The key of the handshake message. */
export const WATCHDOG_MESSAGE = 'flux-webgpu-watchdog';

/** Answers the page's watchdog handshake (call once in the worker, before `Comlink.expose`). */
export function answerWatchdog(): void {
  globalThis.addEventListener('message', (event: Event) => {
    const { data, ports } = event as MessageEvent;
    const request = (data as Record<string, unknown> | null)?.[WATCHDOG_MESSAGE] as { lock?: unknown } | undefined;
    const port = ports?.[0];
    if (!request || !port) return;
    port.onmessage = (ping: MessageEvent) => {
      const seq = (ping.data as { ping?: unknown } | null)?.ping;
      if (typeof seq === 'number') port.postMessage({ pong: seq });
    };
    const alive = (lock: boolean) => port.postMessage({ alive: true, lock });
    const locks = (globalThis.navigator as Navigator | undefined)?.locks;
    if (!locks || typeof request.lock !== 'string') return alive(false);
    locks
      .request(request.lock, () => {
        alive(true);
        return new Promise<never>(() => undefined); // held until the worker ends
      })
      .catch(() => alive(false));
  });
}
