// DOM helpers. Text from the network is only ever set as textContent, never
// as HTML: the app has no innerHTML sink for untrusted data.

type Attrs = Record<string, string | boolean | number | ((e: Event) => void) | undefined>;
type Child = Node | string | number | null | undefined | false;

/** h builds an element: h('button', {onclick: f, class: 'x'}, 'Go'). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v as EventListener);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : String(c));
  }
  return el;
}

/** mount replaces root's content. */
export function mount(root: HTMLElement, ...children: Child[]): void {
  root.replaceChildren();
  for (const c of children) if (c !== null && c !== undefined && c !== false) root.append(typeof c === 'object' ? c : String(c));
}

/** showError puts a readable error into el (and returns it for tests). */
export function showError(el: HTMLElement, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  el.textContent = msg;
  el.className = 'error';
  el.setAttribute('role', 'alert');
  return msg;
}
