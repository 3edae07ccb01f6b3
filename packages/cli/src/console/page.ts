/** What the page needs to know from the server. */
export interface PageOptions {
  /** Whether requests carry a token (the page keeps it for the session). */
  tokenRequired: boolean;
  /** Where the stores come from (shown in the header). */
  source: string;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The console's single page: plain HTML, CSS and a small script, nothing fetched from elsewhere. */
export function consolePage(options: PageOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>durable console</title>
<style>
  :root { --bg:#f7f7f8; --fg:#1d1d1f; --muted:#6b6b75; --line:#e2e2e8; --accent:#3a5ccc; --ok:#1f8a4c; --bad:#c0392b; --warn:#b7791f; --run:#0f7c9c; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
  header { display:flex; align-items:center; gap:24px; padding:12px 24px; background:#fff; border-bottom:1px solid var(--line); }
  header h1 { font-size:16px; margin:0; }
  header nav a { margin-right:16px; color:var(--muted); text-decoration:none; font-weight:500; }
  header nav a.active { color:var(--accent); }
  header .source { margin-left:auto; color:var(--muted); font-size:12px; }
  main { padding:20px 24px; max-width:1200px; }
  .counts { display:flex; gap:8px; flex-wrap:wrap; margin-bottom:14px; }
  .chip { border:1px solid var(--line); background:#fff; border-radius:16px; padding:4px 12px; cursor:pointer; }
  .chip.on { border-color:var(--accent); color:var(--accent); }
  .chip b { margin-left:6px; }
  .bar { display:flex; gap:8px; align-items:center; margin-bottom:12px; flex-wrap:wrap; }
  input, select, button, textarea { font:inherit; padding:5px 8px; border:1px solid var(--line); border-radius:6px; background:#fff; }
  button { cursor:pointer; } button.primary { background:var(--accent); color:#fff; border-color:var(--accent); }
  button.danger { color:var(--bad); border-color:var(--bad); }
  table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
  th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
  th { font-weight:600; color:var(--muted); font-size:12px; text-transform:uppercase; }
  tr.link { cursor:pointer; } tr.link:hover { background:#f0f3ff; }
  .status { font-weight:600; }
  .s-completed { color:var(--ok); } .s-aborted, .s-failed { color:var(--bad); } .s-cancelled { color:var(--warn); } .s-running { color:var(--run); }
  .facts { display:grid; grid-template-columns:120px 1fr; gap:4px 12px; background:#fff; border:1px solid var(--line); padding:12px; margin-bottom:16px; }
  .facts dt { color:var(--muted); } .facts dd { margin:0; }
  .timeline { background:#fff; border:1px solid var(--line); padding:12px; margin-bottom:16px; }
  .tl-row { display:grid; grid-template-columns:220px 1fr 200px; gap:8px; align-items:center; padding:3px 0; }
  .tl-track { position:relative; height:14px; background:#f0f0f4; border-radius:3px; }
  .tl-bar { position:absolute; height:14px; border-radius:3px; background:var(--accent); min-width:2px; }
  .tl-bar.pending { background:var(--warn); } .tl-bar.error { background:var(--bad); } .tl-bar.sleep { background:#8e9bd6; }
  pre { background:#fff; border:1px solid var(--line); padding:10px; overflow:auto; max-height:320px; }
  .error { color:var(--bad); }
  .muted { color:var(--muted); }
  .actions { display:flex; gap:8px; margin:12px 0 16px; align-items:center; flex-wrap:wrap; }
  #flash { min-height:20px; margin-bottom:8px; }
  .diagram { background:#fff; border:1px solid var(--line); padding:12px; margin-bottom:16px; overflow:auto; }
</style>
</head>
<body>
<header>
  <h1>durable console</h1>
  <nav><a href="#/workflows" data-tab="workflows">Workflows</a><a href="#/orchestrations" data-tab="orchestrations">Orchestrations</a><a href="#/actors" data-tab="actors">Actors</a></nav>
  <span class="source">${escapeHtml(options.source)}</span>
</header>
<main><div id="flash"></div><div id="view"></div></main>
<script src="/assets/mermaid.min.js"></script>
<script>
(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get('token') || sessionStorage.getItem('durable-token') || '';
  if (token) sessionStorage.setItem('durable-token', token);
  if (window.mermaid) window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });
  const view = document.getElementById('view');
  const flash = document.getElementById('flash');
  const STATUSES = ['ready','running','sleeping','failed','completed','aborted','cancelled'];
  const state = { status: '', handler: '', live: true, timer: undefined };

  const esc = (v) => String(v).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
  const time = (ms) => ms === undefined || ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
  const dur = (ms) => ms < 1000 ? Math.round(ms) + 'ms' : ms < 60000 ? (ms / 1000).toFixed(1) + 's' : ms < 3600000 ? Math.floor(ms / 60000) + 'm' + String(Math.floor(ms / 1000) % 60).padStart(2, '0') + 's' : (ms / 3600000).toFixed(1) + 'h';
  const json = (v) => v === undefined ? 'undefined' : JSON.stringify(v, null, 2);
  const say = (text, bad) => { flash.innerHTML = '<span class="' + (bad ? 'error' : 'muted') + '" data-testid="flash">' + esc(text) + '</span>'; };

  async function api(path, body) {
    const headers = { accept: 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    const init = { headers };
    if (body !== undefined) { init.method = 'POST'; headers['content-type'] = 'application/json'; headers['x-durable-console'] = '1'; init.body = JSON.stringify(body); }
    const response = await fetch(path, init);
    const data = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function stopLive() { clearTimeout(state.timer); state.timer = undefined; }

  async function workflowsPage() {
    stopLive();
    view.innerHTML = '<div class="counts" data-testid="counts"></div>' +
      '<div class="bar"><label>status <select id="status"><option value="">any</option>' + STATUSES.map((s) => '<option>' + s + '</option>').join('') + '</select></label>' +
      '<label>handler <input id="handler" placeholder="any" size="14"></label>' +
      '<label><input type="checkbox" id="live" ' + (state.live ? 'checked' : '') + '> live refresh</label><span class="muted" id="refreshed"></span></div>' +
      '<table data-testid="workflows"><thead><tr><th>id</th><th>handler</th><th>status</th><th>created (UTC)</th><th>updated (UTC)</th><th>steps</th><th>failures</th><th>error</th></tr></thead><tbody></tbody></table>' +
      '<div class="bar" style="margin-top:10px"><button id="more" hidden>more</button></div>';
    const status = document.getElementById('status'); status.value = state.status;
    const handler = document.getElementById('handler'); handler.value = state.handler;
    status.onchange = () => { state.status = status.value; refresh(); };
    handler.onchange = () => { state.handler = handler.value.trim(); refresh(); };
    document.getElementById('live').onchange = (e) => { state.live = e.target.checked; if (state.live) refresh(); else stopLive(); };
    let cursor;
    const tbody = view.querySelector('tbody');
    const more = document.getElementById('more');
    const row = (w) => '<tr class="link" data-id="' + esc(w.id) + '"><td>' + esc(w.id) + '</td><td>' + esc(w.handler) + '</td><td class="status s-' + w.status + '" data-testid="status">' + w.status + '</td><td>' + time(w.createdAt) + '</td><td>' + time(w.updatedAt) + '</td><td>' + w.steps + '</td><td>' + w.failures + '</td><td class="error">' + (w.error ? esc((w.error.code || w.error.name) + ': ' + w.error.message) : '') + '</td></tr>';
    const query = (c) => '/api/workflows?limit=50&status=' + encodeURIComponent(state.status) + '&handler=' + encodeURIComponent(state.handler) + (c ? '&cursor=' + encodeURIComponent(c) : '');
    async function refresh() {
      stopLive();
      try {
        const [counts, page] = await Promise.all([api('/api/counts'), api(query())]);
        if (!view.contains(tbody)) return;
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        view.querySelector('.counts').innerHTML = '<span class="chip ' + (state.status === '' ? 'on' : '') + '" data-status="">all<b>' + total + '</b></span>' +
          STATUSES.map((s) => '<span class="chip ' + (state.status === s ? 'on' : '') + '" data-status="' + s + '" data-testid="count-' + s + '"><span class="s-' + s + '">' + s + '</span><b>' + counts[s] + '</b></span>').join('');
        view.querySelectorAll('.chip').forEach((chip) => (chip.onclick = () => { state.status = chip.dataset.status; status.value = state.status; refresh(); }));
        tbody.innerHTML = page.items.length ? page.items.map(row).join('') : '<tr><td colspan="8" class="muted">no workflows</td></tr>';
        cursor = page.cursor; more.hidden = !cursor;
        document.getElementById('refreshed').textContent = 'updated ' + new Date().toLocaleTimeString();
      } catch (error) { say(error.message, true); }
      if (state.live && location.hash.startsWith('#/workflows') && !location.hash.startsWith('#/workflows/')) state.timer = setTimeout(refresh, 2000);
    }
    more.onclick = async () => { const page = await api(query(cursor)); tbody.insertAdjacentHTML('beforeend', page.items.map(row).join('')); cursor = page.cursor; more.hidden = !cursor; };
    tbody.onclick = (e) => { const tr = e.target.closest('tr[data-id]'); if (tr) location.hash = '#/workflows/' + encodeURIComponent(tr.dataset.id); };
    await refresh();
  }

  async function workflowPage(id) {
    stopLive();
    let w;
    try { w = await api('/api/workflow?id=' + encodeURIComponent(id)); } catch (error) { view.innerHTML = '<p class="error">' + esc(error.message) + '</p>'; return; }
    const end = w.finishedAt || (w.steps.length ? Math.max(w.steps[w.steps.length - 1].at, w.updatedAt) : w.updatedAt);
    const span = Math.max(1, end - w.createdAt);
    const bars = w.steps.map((s) => {
      const left = ((s.at - s.tookMs - w.createdAt) / span) * 100;
      const width = (s.tookMs / span) * 100;
      const cls = !s.done ? 'pending' : s.error ? 'error' : s.kind === 'sleep' ? 'sleep' : '';
      const note = s.error ? '<span class="error">' + esc(s.error.name + ': ' + s.error.message) + '</span>' : !s.done && s.until ? 'until ' + time(s.until) : esc(JSON.stringify(s.value) ?? '').slice(0, 60);
      return '<div class="tl-row" data-testid="step"><span><b>' + esc(s.id) + '</b> <span class="muted">' + s.kind + (s.attempts > 1 ? ', ' + s.attempts + ' attempts' : '') + '</span></span>' +
        '<span class="tl-track"><span class="tl-bar ' + cls + '" style="left:' + left.toFixed(2) + '%;width:' + width.toFixed(2) + '%"></span></span><span>' + dur(s.tookMs) + ' ' + note + '</span></div>';
    }).join('');
    view.innerHTML = '<p><a href="#/workflows">&larr; workflows</a></p><h2 data-testid="workflow-id">' + esc(w.id) + '</h2>' +
      '<dl class="facts"><dt>handler</dt><dd>' + esc(w.handler) + '</dd><dt>status</dt><dd class="status s-' + w.status + '" data-testid="workflow-status">' + w.status + '</dd>' +
      '<dt>failures</dt><dd>' + w.failures + '</dd><dt>created</dt><dd>' + time(w.createdAt) + '</dd><dt>updated</dt><dd>' + time(w.updatedAt) + '</dd>' +
      (w.finishedAt ? '<dt>finished</dt><dd>' + time(w.finishedAt) + ' (took ' + dur(w.finishedAt - w.createdAt) + ')</dd>' : '') +
      (w.parentId ? '<dt>parent</dt><dd><a href="#/workflows/' + encodeURIComponent(w.parentId) + '">' + esc(w.parentId) + '</a></dd>' : '') +
      '<dt>input</dt><dd><code>' + esc(JSON.stringify(w.input)) + '</code></dd></dl>' +
      '<div class="actions"><button class="danger" id="cancel" data-testid="cancel">Cancel</button><button id="resume" data-testid="resume">Resume</button>' +
      '<input id="event" placeholder="event name" size="14"><input id="payload" placeholder="JSON payload" size="24"><button id="signal">Signal</button></div>' +
      '<h3>steps (' + w.steps.length + ')</h3><div class="timeline">' + (bars || '<span class="muted">no recorded steps</span>') + '</div>' +
      (w.events.length ? '<h3>events (' + w.events.length + ')</h3><table><tr><th>name</th><th>at (UTC)</th><th>payload</th></tr>' + w.events.map((e) => '<tr><td>' + esc(e.name) + '</td><td>' + time(e.at) + '</td><td><code>' + esc(JSON.stringify(e.payload)) + '</code></td></tr>').join('') + '</table>' : '') +
      (w.status === 'completed' ? '<h3>result</h3><pre data-testid="result">' + esc(json(w.result)) + '</pre>' : '') +
      (w.error ? '<h3 class="error">error</h3><pre class="error" data-testid="error">' + esc(w.error.name + (w.error.code ? ' [' + w.error.code + ']' : '') + ': ' + w.error.message + (w.error.stack ? '\\n' + w.error.stack.split('\\n').slice(1).join('\\n') : '')) + '</pre>' : '');
    const act = async (name, body) => {
      try { await api('/api/workflow/' + name, Object.assign({ id: w.id }, body)); say(name + ': done'); } catch (error) { say(error.message, true); }
      await workflowPage(id);
    };
    document.getElementById('cancel').onclick = () => { if (confirm('Cancel workflow ' + w.id + '?')) act('cancel'); };
    document.getElementById('resume').onclick = () => act('resume');
    document.getElementById('signal').onclick = () => {
      const name = document.getElementById('event').value.trim();
      const raw = document.getElementById('payload').value.trim();
      let payload = null;
      if (raw) { try { payload = JSON.parse(raw); } catch { say('the payload is not JSON', true); return; } }
      act('signal', { name, payload });
    };
  }

  async function orchestrationsPage() {
    stopLive();
    view.innerHTML = '<div class="bar"><label>subject prefix <input id="prefix" size="20"></label><button id="go">list</button></div>' +
      '<table data-testid="orchestrations"><thead><tr><th>subject</th><th>machine</th><th>version</th><th>state</th><th>status</th><th>seq</th><th>saved (UTC)</th></tr></thead><tbody></tbody></table>';
    const tbody = view.querySelector('tbody');
    const load = async () => {
      try {
        const page = await api('/api/orchestrations?prefix=' + encodeURIComponent(document.getElementById('prefix').value));
        tbody.innerHTML = page.items.length ? page.items.map((p) => '<tr class="link" data-subject="' + esc(p.subject) + '"><td>' + esc(p.subject) + '</td>' +
          (p.error ? '<td colspan="6" class="error">' + esc(p.error.message) + '</td>' : '<td>' + esc(p.machineId) + '</td><td>' + esc(p.version) + '</td><td>' + esc(typeof p.value === 'string' ? p.value : JSON.stringify(p.value)) + '</td><td>' + esc(p.status) + '</td><td>' + p.sequence + '</td><td>' + time(p.savedAt) + '</td>') + '</tr>').join('') : '<tr><td colspan="7" class="muted">no processes</td></tr>';
      } catch (error) { say(error.message, true); }
    };
    document.getElementById('go').onclick = load;
    tbody.onclick = (e) => { const tr = e.target.closest('tr[data-subject]'); if (tr) location.hash = '#/orchestrations/' + encodeURIComponent(tr.dataset.subject); };
    await load();
  }

  async function orchestrationPage(subject) {
    stopLive();
    let p;
    try { p = await api('/api/orchestration?subject=' + encodeURIComponent(subject)); } catch (error) { view.innerHTML = '<p class="error">' + esc(error.message) + '</p>'; return; }
    view.innerHTML = '<p><a href="#/orchestrations">&larr; orchestrations</a></p><h2>' + esc(subject) + '</h2>' +
      '<dl class="facts"><dt>version</dt><dd>' + esc(p.version) + '</dd><dt>state</dt><dd data-testid="orchestration-state">' + esc(typeof p.value === 'string' ? p.value : JSON.stringify(p.value)) + '</dd><dt>status</dt><dd>' + esc(p.status) + '</dd><dt>sequence</dt><dd>' + p.sequence + '</dd></dl>' +
      '<div class="diagram" data-testid="diagram">' + (p.mermaid ? '' : '<span class="muted">no diagram: the config does not hold this version\\'s machine (orchestrations.versions)</span>') + '</div>' +
      '<h3>context</h3><pre>' + esc(json(p.context)) + '</pre>';
    if (p.mermaid && window.mermaid) {
      try { const { svg } = await window.mermaid.render('m' + Date.now(), p.mermaid); view.querySelector('.diagram').innerHTML = svg; }
      catch (error) { view.querySelector('.diagram').innerHTML = '<pre>' + esc(p.mermaid) + '</pre>'; }
    }
  }

  async function actorsPage(key) {
    stopLive();
    view.innerHTML = '<div class="bar"><label>actor key <input id="key" size="32" value="' + esc(key || '') + '"></label><button id="show">show</button></div><div id="actor"></div>';
    const show = () => { location.hash = '#/actors/' + encodeURIComponent(document.getElementById('key').value.trim()); };
    document.getElementById('show').onclick = show;
    document.getElementById('key').onkeydown = (e) => { if (e.key === 'Enter') show(); };
    if (!key) return;
    try {
      const a = await api('/api/actor?key=' + encodeURIComponent(key));
      document.getElementById('actor').innerHTML = '<dl class="facts"><dt>machine</dt><dd>' + esc(a.machine.id + ' version ' + a.machine.version) + '</dd><dt>state</dt><dd data-testid="actor-state">' + esc(typeof a.value === 'string' ? a.value : JSON.stringify(a.value)) + '</dd>' +
        '<dt>status</dt><dd>' + esc(a.status) + '</dd><dt>saved</dt><dd>' + time(a.savedAt) + '</dd><dt>lease</dt><dd>' + (!a.holderKnown ? 'unknown' : a.holder ? 'fencing token ' + a.holder.fencingToken + ' until ' + time(a.holder.expiresAt) : 'none') + '</dd></dl><h3>context</h3><pre>' + esc(json(a.context)) + '</pre>';
    } catch (error) { document.getElementById('actor').innerHTML = '<p class="error">' + esc(error.message) + '</p>'; }
  }

  async function route() {
    const hash = location.hash || '#/workflows';
    const [, tab, rest] = /^#\\/([a-z]+)\\/?(.*)$/.exec(hash) || [, 'workflows', ''];
    document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.tab === tab));
    const arg = rest ? decodeURIComponent(rest) : '';
    if (tab === 'orchestrations') await (arg ? orchestrationPage(arg) : orchestrationsPage());
    else if (tab === 'actors') await actorsPage(arg);
    else await (arg ? workflowPage(arg) : workflowsPage());
    document.body.dataset.ready = hash;
  }
  window.addEventListener('hashchange', () => { flash.innerHTML = ''; route(); });
  route();
})();
</script>
</body>
</html>`;
}
