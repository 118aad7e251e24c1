// admin.js: the admin page, read-only: polls /admin/api/ring and /admin/api/gateways of the
// gateway that served it (its internal port) once a second and shows the ring, a change in
// progress and every registered gateway.
const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

const td = (text, cls = '') => el('td', { class: cls, textContent: text });

// A node's colour, the same on every load: from its id.
function nodeColor(id) {
  let h = 0;
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${(h * 137.508) % 360}, 55%, 52%)`;
}

function pct(x) {
  return x === null || x === undefined ? '–' : `${x.toFixed(2)}%`;
}

function num(x, digits = 0) {
  return x === null || x === undefined || x < 0 ? '–' : x.toFixed(digits);
}

function drawChart(nodes) {
  const c = $('ring-chart');
  const dpr = window.devicePixelRatio || 1;
  c.width = 240 * dpr;
  c.height = 240 * dpr;
  const ctx = c.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, 240, 240);
  let a = -Math.PI / 2;
  const owning = nodes.filter((n) => (n.share_percent || 0) > 0);
  for (const n of owning) {
    const span = (n.share_percent / 100) * 2 * Math.PI;
    ctx.beginPath();
    ctx.arc(120, 120, 105, a, a + span);
    ctx.arc(120, 120, 68, a + span, a, true);
    ctx.closePath();
    ctx.fillStyle = nodeColor(n.id);
    ctx.globalAlpha = n.state === 'joining' ? 0.55 : 1;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 2;
    ctx.stroke();
    a += span;
  }
  ctx.fillStyle = '#1d2430';
  ctx.font = '600 22px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.fillText(String(owning.length), 120, 122);
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = '#6b7383';
  ctx.fillText(owning.length === 1 ? 'node owns' : 'nodes own', 120, 140);
  ctx.fillText('the hash space', 120, 154);
}

function renderRing(r) {
  $('ring-name').textContent = `ring ${r.ring} · ${r.vnodes} vnodes · served by ${r.gateway}`;
  $('epoch').textContent = `epoch ${r.epoch}`;
  $('epoch').dataset.epoch = String(r.epoch);
  $('node-count').textContent = String(r.nodes.length);
  $('nodes').tBodies[0].replaceChildren(...r.nodes.map((n) => {
    const shownState = n.from ? 'moving' : n.state;
    const share = r.in_transition && n.old_share_percent !== undefined
      ? `${pct(n.old_share_percent)} → ${pct(n.share_percent)}` : pct(n.share_percent);
    const swatch = el('span', { class: 'swatch' });
    swatch.style.background = nodeColor(n.id);
    return el('tr', {
      'data-node-id': n.id, 'data-state': n.state,
      'data-share': n.share_percent === null ? '' : n.share_percent.toFixed(4),
    },
    el('td', {}, swatch, n.id),
    td(n.from ? `${n.from} → ${n.addr}` : n.addr),
    el('td', {}, el('span', { class: `state state-${shownState}`, textContent: shownState })),
    td(share, 'num'),
    td(n.alive === null ? '–' : n.alive ? 'alive' : 'dead', n.alive === false ? 'dead' : n.alive ? 'alive' : ''),
    td(num(n.channels), 'num'),
    td(num(n.messages_per_s, 1), 'num'));
  }));
  drawChart(r.nodes);
  const ch = $('change');
  if (r.change) {
    const c = r.change;
    const who = c.gateways === null ? 'gateways unknown'
      : `${c.gateways_applied}/${c.gateways} gateways applied, ${c.channels_subscribing} channels still subscribing`;
    const moving = r.nodes.filter((n) => n.state === 'joining' || n.state === 'leaving' || n.from)
      .map((n) => `${n.id} ${n.from ? 'moving' : n.state}`).join(', ');
    ch.textContent = c.phase === '1/2'
      ? `Change in progress, phase 1/2 at epoch ${c.epoch}${moving ? ` (${moving})` : ''}: ${who}.`
      : `Epoch ${c.epoch} being applied: ${who}.`;
    ch.dataset.phase = c.phase;
    ch.hidden = false;
  } else {
    ch.hidden = true;
    ch.dataset.phase = '';
  }
}

function renderGateways(g) {
  $('gateway-count').textContent = String(g.gateways.length);
  $('gateways').tBodies[0].replaceChildren(...g.gateways.map((w) => el('tr', {
    'data-gateway-id': w.id, 'data-epoch': String(w.epoch),
  },
  td(w.id === g.self ? `${w.id} (this one)` : w.id),
  td(w.addr || '–'),
  td(num(w.epoch), 'num'),
  td(num(w.lag), w.lag > 0 ? 'num lagging' : 'num'),
  td(w.pending > 0 ? String(w.pending) : '0', 'num'),
  td(w.dead || '–', w.dead ? 'dead' : ''),
  td(num(w.sessions), 'num'),
  td(num(w.pushes_per_s), 'num'),
  td(w.admin || '–'))));
}

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store' });
  if (!res.ok) {
    let message = `${res.status}`;
    try { message = (await res.json()).message || message; } catch { /* not JSON */ }
    throw new Error(message);
  }
  return res.json();
}

async function poll() {
  try {
    const [ring, gateways] = await Promise.all([getJson('/admin/api/ring'), getJson('/admin/api/gateways')]);
    renderRing(ring);
    renderGateways(gateways);
    const stale = gateways.stale ? ` (gateways stale: ${gateways.gateways_error || 'not read yet'})` : '';
    $('poll').textContent = `updated ${new Date().toLocaleTimeString()}${stale}`;
  } catch (e) {
    $('poll').textContent = `cannot read the gateway: ${e.message}`;
  }
  setTimeout(poll, POLL_MS);
}

poll();
