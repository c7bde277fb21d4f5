// A small history-API router. A page renders into the root element and may
// return a cleanup function (stop video, close sockets) run on navigation.

export type Params = Record<string, string>;
export type Page = (root: HTMLElement, params: Params) => void | (() => void) | Promise<void | (() => void)>;

interface Route {
  re: RegExp;
  names: string[];
  page: Page;
}

const routes: Route[] = [];
const hooks: ((path: string) => void)[] = [];
let cleanup: (() => void) | undefined;

/** onNavigate runs fn with the new path before each page renders (the shell's header). */
export function onNavigate(fn: (path: string) => void): void {
  hooks.push(fn);
}

/** route registers a page for a path pattern like "/h/:hh/cam/:cam". */
export function route(pattern: string, page: Page): void {
  const names: string[] = [];
  const re = new RegExp('^' + pattern.replace(/:([a-z]+)/g, (_, n) => (names.push(n), '([^/]+)')) + '/?$');
  routes.push({ re, names, page });
}

/** go navigates within the app. */
export function go(path: string): void {
  history.pushState(null, '', path);
  void render();
}

/** replace navigates within the app without a new history entry (redirects). */
export function replace(path: string): void {
  history.replaceState(null, '', path);
  void render();
}

export async function render(): Promise<void> {
  const root = document.getElementById('app')!;
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* ignore */
    }
    cleanup = undefined;
  }
  const path = location.pathname;
  for (const fn of hooks) {
    try {
      fn(path);
    } catch {
      /* a broken header must not stop the page */
    }
  }
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    const params: Params = {};
    r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
    const c = await r.page(root, params);
    if (typeof c === 'function') cleanup = c;
    return;
  }
  root.textContent = 'Page not found.';
}

export function start(): void {
  window.addEventListener('popstate', () => void render());
  document.addEventListener('click', (e) => {
    const a = (e.target as Element).closest?.('a');
    if (!a || a.target || a.origin !== location.origin || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (a.pathname.startsWith('/v1/') || a.hasAttribute('download')) return;
    e.preventDefault();
    go(a.pathname + a.search + a.hash);
  });
  void render();
}
