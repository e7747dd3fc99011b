// The worklist page: polls GET /api/v1/worklist every few seconds and shows the instances,
// likely positives first, with their status and why. Token handling as on the main page
// (sessionStorage of this tab). No inline script, no third-party code.
const TOKEN_KEY = 'cxrtune-token';
const $ = (id) => document.getElementById(id);
let overlayUrl = null;

function headers() {
  const t = sessionStorage.getItem(TOKEN_KEY);
  return t ? { authorization: `Bearer ${t}` } : {};
}

async function api(path) {
  const r = await fetch(path, { headers: headers() });
  if (r.status === 401) {
    $('token-panel').hidden = false;
    throw new Error('this server needs a token');
  }
  if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
  return r;
}

const pct = (p) => (p === null || p === undefined ? '–' : `${(p * 100).toFixed(1)} %`);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
const STATUS_TEXT = {
  received: 'received',
  skipped: 'skipped',
  screened: 'screened',
  sent: 'sent back',
  failed: 'failed',
};

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.append(td);
  return td;
}

function render(data) {
  const c = data.counts;
  $('wl-summary').textContent =
    `${data.finding ? `Screening for ${data.finding}. ` : ''}` +
    `${data.items.length} instances: ${c.sent} sent back, ${c.screened} screened, ${c.received} waiting, ` +
    `${c.skipped} skipped, ${c.failed} failed. ` +
    `${data.pacs ? `PACS: ${data.pacs}` : 'No PACS configured (STOW-RS only).'}`;
  const body = $('worklist').tBodies[0];
  body.replaceChildren();
  for (const it of data.items) {
    const tr = document.createElement('tr');
    cell(tr, pct(it.probability), 'prob-cell');
    cell(
      tr,
      it.decision === 'positive' && data.finding ? `positive: ${data.finding} suspected` : (it.decision ?? '–'),
      it.decision === 'positive' ? 'decision-pos' : it.decision === 'negative' ? 'decision-neg' : '',
    );
    cell(tr, STATUS_TEXT[it.status] ?? it.status);
    cell(tr, it.reason ?? '');
    cell(tr, [it.modality, it.view].filter(Boolean).join(' / ') || '–');
    cell(tr, when(it.receivedAt));
    cell(tr, it.latencyMs === null ? '–' : `${(it.latencyMs / 1000).toFixed(2)} s`);
    const links = cell(tr, '');
    if (it.links.overlay) {
      const b = document.createElement('button');
      b.className = 'link';
      b.type = 'button';
      b.textContent = 'Overlay';
      b.addEventListener('click', () => showOverlay(it));
      links.append(b);
    }
    if (it.links.pacs) {
      const a = document.createElement('a');
      a.href = it.links.pacs;
      a.textContent = 'PACS';
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
      links.append(' ', a);
    }
    body.append(tr);
  }
}

async function showOverlay(it) {
  const blob = await (await api(it.links.overlay)).blob();
  if (overlayUrl) URL.revokeObjectURL(overlayUrl);
  overlayUrl = URL.createObjectURL(blob);
  $('overlay').src = overlayUrl;
  $('overlay-caption').textContent =
    `Probability ${pct(it.probability)} (threshold ${pct(it.threshold)}): ${it.decision}. Warm colours mark ` +
    `the regions that raised the probability.`;
  $('detail').hidden = false;
  $('detail').scrollIntoView({ block: 'nearest' });
}

async function refresh() {
  try {
    render(await (await api('/api/v1/worklist')).json());
  } catch (e) {
    $('wl-summary').textContent = `Cannot load the worklist: ${e.message}`;
  }
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  $('token-panel').hidden = true;
  void refresh();
});

void refresh();
setInterval(refresh, 3000);
