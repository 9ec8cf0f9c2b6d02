// Records the widgets' events for test/browser/widget.test.ts (an external script: the
// page's CSP forbids inline ones).
window.widgetEvents = [];
for (const element of document.querySelectorAll('flux-generator')) {
  for (const type of ['progress', 'image', 'error', 'route']) {
    element.addEventListener(type, (event) => {
      const d = event.detail ?? {};
      window.widgetEvents.push({
        widget: element.id,
        type,
        stage: d.stage,
        step: d.step,
        steps: d.steps,
        text: d.text,
        fraction: d.fraction,
        preview: d.preview ? { width: d.preview.width, height: d.preview.height } : undefined,
        name: d.name,
        summary: d.summary,
        message: d.message,
        seed: d.result?.seed,
        backend: d.result?.backend ?? d.backend,
        onDevice: d.onDevice,
        webgpu: d.webgpu,
        isCustomEvent: event instanceof CustomEvent,
        bubbles: event.bubbles,
      });
    });
  }
}
