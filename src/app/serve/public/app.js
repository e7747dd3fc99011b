// cxrtune screening page. Sends the file's bytes as the raw body (so its name never leaves
// the browser), shows the result and Grad-CAM, keeps this session's studies in memory only.
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'cxrtune-token';
const session = [];
let model = null;

function headers(extra = {}) {
  const t = sessionStorage.getItem(TOKEN_KEY);
  return t ? { ...extra, authorization: `Bearer ${t}` } : extra;
}

function setStatus(text, isError = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

const pct = (p) => `${(p * 100).toFixed(1)} %`;
const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
// Class names and the finding come from the model card (the model's task), never from the page.
const className = (c) => model?.task?.classNames?.[c] ?? c;
const findingName = (c) => c.task?.finding ?? className(c.positiveClass);

async function api(path, init = {}) {
  const r = await fetch(path, { ...init, headers: headers(init.headers) });
  let body = null;
  try {
    body = await r.json();
  } catch {
    /* not JSON */
  }
  if (r.status === 401) {
    $('token-panel').hidden = false;
    $('token').focus();
  }
  if (!r.ok) {
    const retry = r.headers.get('retry-after');
    const detail = body?.detail ? body.detail : `HTTP ${r.status}`;
    const err = new Error(retry ? `${detail} (server busy: try again in ${retry} s)` : detail);
    err.code = body?.error;
    throw err;
  }
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function renderCard(c) {
  const root = $('model-card');
  root.replaceChildren();
  root.className = 'mc';
  const dl = el('dl');
  const add = (k, v) => {
    dl.append(el('dt', k), el('dd', v));
  };
  add('Architecture', `${c.arch} (${c.inputSize}×${c.inputSize}, ${c.channels === 1 ? 'grayscale' : 'RGB'})`);
  add('Classes', c.classes.map(className).join(', '));
  add('Screened for', `${findingName(c)} (class ${className(c.positiveClass)})`);
  add('Decision threshold', c.threshold.toFixed(3));
  add('Version', c.version);
  add('Weights SHA-256', c.sha256);
  // A record (the augmentation's) shows its mode and sets by name; the whole record is in the card's JSON.
  const shown = (v) =>
    v && typeof v === 'object'
      ? [v.mode, ...(v.sets || []).map((s) => s.set), v.manifest].filter(Boolean).join(', ')
      : String(v);
  const tr = Object.entries(c.training || {})
    .map(([k, v]) => `${k}: ${shown(v)}`)
    .join('; ');
  add('Training', tr || 'not recorded in the checkpoint');
  const data = c.data || {};
  const summary = data.summary
    ? typeof data.summary === 'string'
      ? data.summary
      : JSON.stringify(data.summary)
    : null;
  add(
    'Training data',
    [summary, data.manifestSha256 ? `manifest SHA-256 ${data.manifestSha256.slice(0, 16)}…` : null]
      .filter(Boolean)
      .join('; ') || 'not recorded in the checkpoint',
  );
  // Every figure with its protocol (SOURCE-HELD-OUT / EXTERNAL first, INTERNAL last).
  const figs = c.figures || [
    {
      label: 'INTERNAL',
      why: '',
      name: 'validation',
      n: c.validation?.n,
      metrics: (c.validation || { metrics: [] }).metrics,
    },
  ];
  for (const f of figs) {
    const ms = f.metrics.map(
      (m) => `${m.name} ${fmt(m.value)}${m.ci ? ` (95 % CI ${fmt(m.ci[0])}–${fmt(m.ci[1])})` : ''}`,
    );
    add(
      `${f.label}: ${f.name}${f.n ? ` (n = ${f.n})` : ''}`,
      [ms.join('; ') || 'no metrics in the checkpoint', f.why, f.note].filter(Boolean).join(' — '),
    );
  }
  if (c.thresholdRule) add('Threshold rule', c.thresholdRule);
  if (c.calibration)
    add(
      'Calibration',
      `${c.calibration.method}` +
        (c.calibration.n ? ` on ${c.calibration.n} site images` : '') +
        (c.calibration.eceBefore != null
          ? `; ECE ${fmt(c.calibration.eceBefore)} → ${fmt(c.calibration.eceAfter)}`
          : ''),
    );
  add('Intended use', c.intendedUse);
  root.append(dl, el('p', c.disclaimer, 'disclaimer'));
  for (const id of ['pos-name']) $(id).textContent = findingName(c);
  $('prob-label').textContent = `Probability of ${findingName(c)}`;
  $('heatmap').alt = `Grad-CAM heatmap: warmer colours mark the regions that raised the ${findingName(c)} probability`;
}
const fmt = (x) => (Math.abs(x) <= 1 ? x.toFixed(3) : x.toFixed(2));

async function loadModel() {
  try {
    model = await api('/api/v1/model');
    renderCard(model);
  } catch (e) {
    $('model-card').textContent = `Model card unavailable: ${e.message}`;
  }
}

function show(r) {
  $('result').hidden = false;
  $('image').src = r.image;
  $('heatmap').src = r.heatmap;
  // Lung field (serve --lungs): outline under the heatmap, and how much of the evidence lies in it.
  const lungs = r.lungs;
  $('lungs-outline').hidden = !lungs;
  $('lung-evidence').hidden = !lungs || lungs.evidenceInside === null;
  $('lung-warning').hidden = !lungs?.warning;
  if (lungs) {
    $('lungs-outline').src = lungs.outline;
    if (lungs.evidenceInside !== null)
      $('lung-evidence').textContent =
        `Evidence inside the lungs: ${pct(lungs.evidenceInside)} (the lungs cover ${pct(lungs.lungArea)} of ` +
        `the image).`;
    if (lungs.warning) $('lung-warning').textContent = lungs.warning;
  }
  $('probability').textContent = pct(r.probability);
  const meter = $('prob-meter');
  meter.low = r.threshold;
  meter.high = r.threshold;
  meter.value = r.probability;
  $('threshold').textContent = pct(r.threshold);
  const d = $('decision');
  d.textContent =
    r.decision === 'positive'
      ? `At or above threshold: ${className(r.label)} suspected, review with priority`
      : `Below threshold: ${cap(className(r.label))}`;
  d.className = r.decision === 'positive' ? 'decision-pos' : 'decision-neg';
  // More than two classes: each class's probability, and which one the heatmap explains.
  const classes = Object.entries(r.probabilities ?? {});
  const many = classes.length > 2;
  $('classes').hidden = !many;
  $('classes-label').hidden = !many;
  if (many)
    $('classes').textContent =
      `${classes.map(([c, p]) => `${cap(className(c))} ${pct(p)}`).join(', ')}; ` +
      `heatmap: ${className(r.heatmapClass ?? r.label)}`;
  $('format').textContent = r.format.toUpperCase();
  $('timing').textContent = `${Math.round(r.timings.totalMs)} ms`;
  $('study-id').textContent = r.id;
}

function addToSession(r) {
  session.unshift(r);
  $('session-empty').hidden = true;
  const table = $('session');
  table.hidden = false;
  const row = document.createElement('tr');
  const btn = el('button', 'Show', 'link');
  btn.type = 'button';
  btn.setAttribute('aria-label', `Show study of ${new Date(r.at).toLocaleTimeString()}`);
  btn.addEventListener('click', () => {
    show(r);
    $('result-h').focus();
  });
  const td = el('td');
  td.append(btn);
  row.append(
    el('td', new Date(r.at).toLocaleTimeString()),
    el('td', pct(r.probability)),
    el('td', r.decision === 'positive' ? `${className(r.label)} suspected` : cap(className(r.label))),
    td,
  );
  table.tBodies[0].prepend(row);
}

async function screen(file) {
  if (!file) return;
  setStatus(`Screening… (${(file.size / 1024).toFixed(0)} KB)`);
  try {
    const bytes = await file.arrayBuffer();
    const r = await api('/api/v1/screen', {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    r.at = Date.now();
    show(r);
    addToSession(r);
    setStatus(
      `Done: probability ${pct(r.probability)}, ${r.decision === 'positive' ? 'at or above' : 'below'} the ` +
        `threshold ${pct(r.threshold)}.`,
    );
    $('result-h').focus();
  } catch (e) {
    // A refused image: no score at all, and no earlier study's result left on screen beside the message.
    if (e.code === 'not_frontal_chest_radiograph') {
      $('result').hidden = true;
      setStatus(`Not screened: ${e.message}. This model only scores frontal (PA/AP) chest radiographs.`, true);
    } else setStatus(`Could not screen this file: ${e.message}`, true);
  }
}

function init() {
  $('result-h').tabIndex = -1;
  $('file').addEventListener('change', (e) => {
    screen(e.target.files[0]);
    e.target.value = '';
  });
  const drop = $('drop');
  for (const ev of ['dragenter', 'dragover'])
    drop.addEventListener(ev, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    screen(e.dataTransfer.files[0]);
  });
  const opacity = $('opacity');
  const setOpacity = () => {
    $('heatmap').style.opacity = String(opacity.value / 100);
    $('opacity-out').textContent = `${opacity.value} %`;
  };
  opacity.addEventListener('input', setOpacity);
  setOpacity();
  $('show-heat').addEventListener('change', (e) => {
    $('heatmap').classList.toggle('off', !e.target.checked);
    opacity.disabled = !e.target.checked;
  });
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    $('token-panel').hidden = true;
    setStatus('Token set.');
    loadModel();
  });
  loadModel();
}

init();
