// Page: a camera's detection zones and motion masks, and what its
// detection tracks (labels, minimum score) (/h/:hh/cam/:cam/zones). The camera's newest event snapshot is opened in
// this browser and the member draws polygons over it. The page sends them
// to the household's hub over the settings channel of a live session, end
// to end encrypted (the cloud only relays the signed signalling, G8), and
// loads them back from it; it also writes the camera's `detect:` block for
// the hub's config file, to copy there. The drawing is kept in this browser
// (localStorage, by household and camera): nothing of it goes to the cloud.

import { loadDeviceKeys } from '../crypto/devicekeys';
import { hubSettings, HubSaid, type Cancel, type SettingsReply, type SettingsRequest } from '../live/settings';
import { liveTrust } from '../live/trust';
import { copyButton, fmtDateTime, pageHead } from '../kit';
import { householdKeys, NotEnrolledError } from '../media/keys';
import { route } from '../router';
import { h, mount, showError } from '../ui';
import { Editor } from '../zones/editor';
import {
  COMMON_LABELS,
  fromHub,
  load,
  MAX_OTHER,
  problems,
  save,
  targetLabels,
  targetProblems,
  targetsFromHub,
  toHub,
  toYAML,
  type Shape,
  type Targets,
} from '../zones/model';
import { newestSnapshot } from '../zones/snapshot';
import '../zones/zones.css';

const enc = encodeURIComponent;

route('/h/:hh/cam/:cam/zones', async (root, p) => {
  const { hh, cam } = p;
  const status = h('p', { id: 'zn-status', class: 'muted', role: 'status' }, 'Opening the newest snapshot…');
  const err = h('p', { id: 'zn-error' });
  const errors = h('ul', { id: 'zn-errors', class: 'error' });
  const yaml = h('pre', { id: 'zn-yaml', class: 'zn-yaml mono' });
  const copy = copyButton(() => yaml.textContent ?? '', { id: 'zn-copy', label: 'Copy' });
  const list = h('ol', { id: 'zn-shapes', class: 'list zn-shapes', 'aria-label': 'zones and masks drawn' });
  const stage = h('div', { id: 'zn-stage', class: 'zn-stage' });
  const drawZone = h('input', { id: 'zn-draw-zone', type: 'radio', name: 'zn-draw', value: 'zone', checked: true });
  const drawMask = h('input', { id: 'zn-draw-mask', type: 'radio', name: 'zn-draw', value: 'mask' });
  const saveHub = h('button', { id: 'zn-save-hub', type: 'button' }, 'Save to hub');
  const loadHub = h('button', { id: 'zn-load-hub', type: 'button', class: 'secondary' }, 'Load from hub');
  const resetHub = h('button', { id: 'zn-reset-hub', type: 'button', class: 'secondary' }, 'Use the config file’s');
  const hubStatus = h('p', { id: 'zn-hub-status', class: 'muted', role: 'status' });
  let busy = false;
  let op: Cancel | undefined;

  let closed = false;
  const stored = load(hh, cam);
  const targets: Targets = stored.targets;
  const editor = new Editor(stored.shapes, (structural) => {
    if (structural) renderList();
    update();
  });

  // What to detect: the common labels as checkboxes, others typed, and the
  // lowest score kept.
  const ticks = COMMON_LABELS.map((l) => h('input', { id: `zn-label-${l}`, class: 'zn-label', type: 'checkbox', value: l }));
  const other = h('input', { id: 'zn-label-other', class: 'zn-label-other', maxlength: MAX_OTHER, placeholder: 'e.g. umbrella, backpack', autocomplete: 'off' });
  const minScore = h('input', { id: 'zn-min-score', class: 'zn-min-score', type: 'number', min: '0.05', max: '0.95', step: '0.05', inputmode: 'decimal' });
  const tracked = h('p', { id: 'zn-labels-summary', class: 'muted' });
  for (const t of ticks)
    t.addEventListener('change', () => {
      targets.labels = ticks.filter((c) => c.checked).map((c) => c.value);
      update();
    });
  other.addEventListener('input', () => {
    targets.other = other.value;
    update();
  });
  minScore.addEventListener('input', () => {
    targets.minScore = minScore.value;
    update();
  });
  const renderTargets = () => {
    for (const t of ticks) t.checked = targets.labels.includes(t.value);
    other.value = targets.other;
    minScore.value = targets.minScore;
  };
  const setTargets = (t: Targets) => {
    Object.assign(targets, t);
    renderTargets();
  };

  function update(): void {
    save(hh, cam, editor.shapes, targets);
    const bad = [...problems(editor.shapes), ...targetProblems(targets)];
    errors.replaceChildren(...bad.map((m) => h('li', {}, m)));
    const labels = targetLabels(targets);
    tracked.textContent = labels.length ? `Tracked: ${labels.join(', ')}.` : 'Nothing tracked.';
    yaml.textContent = toYAML(editor.shapes, targets);
    yaml.dataset.valid = String(bad.length === 0);
    copy.disabled = bad.length > 0;
    saveHub.disabled = busy || bad.length > 0;
    saveHub.title = bad.length > 0 ? 'Fix the problems listed below first.' : '';
  }

  // The hub: one operation at a time, each over its own live session.
  const say = (state: string, text: string) => {
    hubStatus.dataset.state = state;
    hubStatus.className = state === 'error' ? 'error' : 'muted';
    hubStatus.textContent = text;
  };
  const counts = (shapes: Shape[]) => {
    const z = shapes.filter((s) => s.kind === 'zone').length;
    const m = shapes.length - z;
    return `${z} zone${z === 1 ? '' : 's'}, ${m} mask${m === 1 ? '' : 's'}`;
  };
  const OFF = 'Detection is off for this camera in the hub’s config (cameras[].detect); the zones apply once it is on.';
  let trust: Promise<{ keys: NonNullable<Awaited<ReturnType<typeof loadDeviceKeys>>>; trust: Awaited<ReturnType<typeof liveTrust>> }> | undefined;
  const prepare = () =>
    (trust ??= (async () => {
      const keys = await loadDeviceKeys();
      if (!keys) throw new Error('this browser is not one of the household’s devices yet: ask an admin of the household to add it (This device, in the account menu)');
      return { keys, trust: await liveTrust(hh, keys) };
    })().catch((e) => {
      trust = undefined;
      throw e;
    }));
  async function hub(req: SettingsRequest, done: (r: SettingsReply) => string): Promise<void> {
    if (busy) return;
    busy = true;
    for (const b of [loadHub, resetHub]) b.disabled = true;
    update();
    hubStatus.removeAttribute('data-source');
    say('busy', 'Connecting to the hub…');
    try {
      const p = await prepare();
      if (closed) return;
      const r = await hubSettings({ hh, camera: cam, keys: p.keys, trust: p.trust, onStatus: (s) => say('busy', s) }, req, (c) => (op = c));
      if (closed) return;
      hubStatus.dataset.source = r.source;
      hubStatus.dataset.detecting = String(r.detecting);
      say('ok', done(r));
    } catch (e) {
      if (closed) return;
      if (e instanceof HubSaid) say('error', `The hub refused: ${e.message}`);
      else say('error', `Could not reach the hub: ${(e as Error).message.replace(/; retrying…?$/, '')}`);
    } finally {
      op = undefined;
      busy = false;
      for (const b of [loadHub, resetHub]) b.disabled = false;
      if (!closed) update();
    }
  }
  const replace = (shapes: Shape[], t: Targets) => {
    setTargets(t);
    editor.shapes.splice(0, editor.shapes.length, ...shapes);
    editor.render();
    renderList();
    update();
  };
  saveHub.addEventListener('click', () => {
    if (problems(editor.shapes).length + targetProblems(targets).length > 0) return;
    void hub({ op: 'put', detect: toHub(editor.shapes, targets) }, (r) => (r.detecting ? 'Saved on the hub: detection uses these settings now.' : `Saved on the hub. ${OFF}`));
  });
  loadHub.addEventListener('click', () => {
    void hub({ op: 'get' }, (r) => {
      const shapes = fromHub(r.detect);
      replace(shapes, targetsFromHub(r.detect));
      const from = r.source === 'app' ? 'saved from this app' : 'of the hub’s config file';
      return `Loaded from the hub: the zones and masks ${from} (${counts(shapes)}), and what it detects.` + (r.detecting ? '' : ` ${OFF}`);
    });
  });
  resetHub.addEventListener('click', () => {
    void hub({ op: 'reset' }, (r) => {
      const shapes = fromHub(r.detect);
      replace(shapes, targetsFromHub(r.detect));
      return `The hub uses its config file’s settings again (${counts(shapes)}, shown above).` + (r.detecting ? '' : ` ${OFF}`);
    });
  });

  function renderList(): void {
    let zn = 0;
    let mk = 0;
    list.replaceChildren(
      ...editor.shapes.map((sh: Shape, i) => {
        const title = h('strong', { class: 'zn-title' }, sh.kind === 'zone' ? `Zone ${++zn}` : `Mask ${++mk}`);
        const kind = h('select', { class: 'zn-kind', 'aria-label': 'zone or mask' }, h('option', { value: 'zone' }, 'Zone'), h('option', { value: 'mask' }, 'Mask (motion ignored)'));
        kind.value = sh.kind;
        kind.addEventListener('change', () => {
          sh.kind = kind.value === 'mask' ? 'mask' : 'zone';
          if (sh.kind === 'zone' && !sh.name) sh.name = `zone-${i + 1}`;
          editor.render();
          renderList();
          update();
        });
        const field = (cls: string, label: string, key: 'name' | 'labels' | 'inertia', placeholder: string) => {
          const input = h('input', { class: cls, value: sh[key], placeholder, maxlength: key === 'inertia' ? 3 : 512 });
          input.addEventListener('input', () => {
            sh[key] = input.value;
            editor.render();
            update();
          });
          return h('label', { class: 'field' }, h('span', {}, label), input);
        };
        const del = h('button', { type: 'button', class: 'secondary zn-delete', 'aria-label': `Delete ${sh.kind === 'zone' ? `zone ${zn}` : `mask ${mk}`}` }, 'Delete');
        del.addEventListener('click', () => {
          editor.shapes.splice(i, 1);
          editor.render();
          renderList();
          update();
        });
        const fields = sh.kind === 'zone' ? [field('zn-name', 'Name', 'name', 'driveway'), field('zn-labels', 'Labels', 'labels', 'all (or: person, car)'), field('zn-inertia', 'Inertia', 'inertia', '3')] : [];
        return h(
          'li',
          { class: `item zn-shape zn-shape-${sh.kind}`, 'data-kind': sh.kind },
          h('div', { class: 'zn-shape-head' }, title, h('span', { class: 'muted' }, `${sh.points.length} points`), kind, del),
          fields.length ? h('div', { class: 'zn-fields' }, ...fields) : null,
        );
      }),
    );
  }

  for (const r of [drawZone, drawMask]) r.addEventListener('change', () => (editor.drawKind = drawMask.checked ? 'mask' : 'zone'));
  const onKey = (e: KeyboardEvent) => {
    const t = e.target as HTMLElement | null;
    if (t && (t.closest('input, textarea, select, [contenteditable]') || (t.tagName === 'BUTTON' && e.key === 'Enter'))) return;
    if (editor.key(e)) e.preventDefault();
  };
  document.addEventListener('keydown', onKey);

  mount(
    root,
    pageHead(`Zones and masks: ${cam}`, { back: { href: `/h/${enc(hh)}/settings`, label: 'Settings' } }),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'zn-draw-title' },
      h('h2', { id: 'zn-draw-title' }, 'Draw on the picture'),
      h(
        'p',
        { class: 'muted' },
        'A zone is where detection looks; a mask is where movement is ignored. Tap or click the picture to add points, and the first point (or Enter) to close the shape. Drag a point to move it; Backspace removes the last point, Escape drops the shape.',
      ),
      h('fieldset', { class: 'zn-kinds' }, h('legend', {}, 'Draw a'), h('label', { class: 'check' }, drawZone, 'Zone'), h('label', { class: 'check' }, drawMask, 'Mask (movement ignored)')),
      status,
      err,
      stage,
      list,
      errors,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'zn-detect-title' },
      h('h2', { id: 'zn-detect-title' }, 'What to detect'),
      h(
        'p',
        { class: 'muted' },
        'The objects this camera looks for (zones can narrow them further), and how sure the detector must be: higher means fewer false alarms but more missed objects.',
      ),
      h('div', { id: 'zn-labels', class: 'zn-labels', role: 'group', 'aria-label': 'Objects to detect' }, ...ticks.map((t) => h('label', { class: 'check' }, t, t.value))),
      h('div', { class: 'zn-fields' }, h('label', { class: 'field' }, h('span', {}, 'Other objects (comma-separated)'), other), h('label', { class: 'field' }, h('span', {}, 'Minimum score (0.05 to 0.95)'), minScore)),
      tracked,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'zn-hub-title' },
      h('h2', { id: 'zn-hub-title' }, 'Save on the hub'),
      h(
        'p',
        { class: 'muted' },
        'Sends these zones, masks and objects straight to the household’s hub, end to end encrypted: the Vigil service relays the connection and never sees them. They replace the hub’s config file settings for this camera until you choose the config file’s again. Only an admin device may change them.',
      ),
      h('div', { class: 'row' }, saveHub, loadHub, resetHub),
      hubStatus,
    ),
    h(
      'details',
      { class: 'card zn-config' },
      h('summary', {}, 'For the hub’s config file'),
      h(
        'p',
        { class: 'muted' },
        `If you keep the hub’s settings in its config file instead: put this under the camera “${cam}” there (replacing its detect: block; keep your other detect settings) and restart the hub. Settings saved from this page take precedence over the file’s until you choose the config file’s.`,
      ),
      yaml,
      h('div', { class: 'row' }, copy),
    ),
  );
  renderList();
  renderTargets();
  update();

  const blank = () => {
    stage.replaceChildren(h('div', { id: 'zn-blank', class: 'zn-blank' }), editor.svg);
    editor.setSize(1600, 900);
  };
  let url = '';
  try {
    const keys = await householdKeys(hh);
    const snap = await newestSnapshot(hh, cam, keys);
    if (closed) return;
    if (!snap) {
      status.textContent = 'No snapshot yet: draw on the blank 16:9 frame.';
      blank();
    } else {
      url = URL.createObjectURL(new Blob([snap.jpeg.slice().buffer], { type: 'image/jpeg' }));
      const img = h('img', { id: 'zn-img', class: 'zn-img', alt: `newest snapshot of ${cam}`, draggable: 'false' });
      img.addEventListener('load', () => {
        editor.setSize(img.naturalWidth, img.naturalHeight);
        status.textContent = `Newest snapshot, ${fmtDateTime(snap.at)}.`;
      });
      img.addEventListener('error', () => {
        status.textContent = 'The snapshot does not decode: draw on the blank 16:9 frame.';
        blank();
      });
      img.src = url;
      stage.replaceChildren(img, editor.svg);
    }
  } catch (e) {
    status.textContent = 'No snapshot: draw on the blank 16:9 frame.';
    if (e instanceof NotEnrolledError) err.replaceChildren(h('span', { class: 'error', id: 'zn-not-enrolled' }, 'Not enrolled: the snapshot cannot be opened in this browser. '), h('a', { href: '/device' }, 'Show this browser’s device identity'));
    else showError(err, e);
    blank();
  }

  return () => {
    closed = true;
    op?.cancel();
    document.removeEventListener('keydown', onKey);
    if (url) URL.revokeObjectURL(url);
  };
});
