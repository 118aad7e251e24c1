// map.js: the live map: the user and the friends in range on a metric canvas, the side list, friend
// requests and the sharing switch, all through the client (client/nearby.js) against the gateway
// that served the page. The token comes from the URL fragment (#token=...; never sent to a
// server) or the paste form; #lat=..&lng=.. places the user.
import { connect, distanceKm } from './client/nearby.js';

const KM_PER_DEG = 111.19508; // on the gateways' sphere (geo/geo.h)
const TRAIL = 8;              // positions kept per friend
const FADE_MS = 3000;         // a friend gone from range fades out over this
const REQUESTS_EVERY_MS = 3000;
const DEFAULT_POS = { lat: 48.8566, lng: 2.3522 };

const $ = (id) => document.getElementById(id);
const canvas = $('map');
const ctx = canvas.getContext('2d');

const params = new URLSearchParams(location.hash.replace(/^#/, ''));
const state = {
  client: null,
  me: null,                 // {id, sharing, friends}
  pos: null,                // {lat, lng}: where the user is
  view: null,               // {lat, lng}: the map's centre
  pxPerKm: 40,
  zoomed: false,            // the user zoomed: keep it
  friends: new Map(),       // id -> {id, lat, lng, ts, distKm, trail, goneAt}
  strangers: new Map(),     // sid -> {sid, lat, lng, distKm, goneAt}: anonymous, coarse
  radiusKm: null,
  dirty: true,
  listDirty: true,
  watchId: null,
};

// ------------------------------------------------------------------------- helpers

function hue(id) {
  return (Number(id) * 137.508) % 360;
}

function friendColor(id, alpha = 1) {
  return `hsla(${hue(id)}, 65%, 45%, ${alpha})`;
}

function formatKm(km) {
  if (km < 1) return `${Math.round(km * 1000)} m`;
  if (km < 10) return `${km.toFixed(2)} km`;
  return `${km.toFixed(1)} km`;
}

function formatAge(ts) {
  const s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  if (s < 60) return `${s} s ago`;
  return `${Math.floor(s / 60)} min ago`;
}

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

// Screen position of a point, from the view's centre (an equirectangular projection: a few
// hundred km wide at most, where it is good to a fraction of a percent).
function toScreen(lat, lng) {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  const kx = (lng - state.view.lng) * KM_PER_DEG * Math.cos((state.view.lat * Math.PI) / 180);
  const ky = (lat - state.view.lat) * KM_PER_DEG;
  return { x: w / 2 + kx * state.pxPerKm, y: h / 2 - ky * state.pxPerKm };
}

function toWorld(x, y) {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  const kx = (x - w / 2) / state.pxPerKm, ky = (h / 2 - y) / state.pxPerKm;
  const lat = state.view.lat + ky / KM_PER_DEG;
  const lng = state.view.lng + kx / (KM_PER_DEG * Math.cos((state.view.lat * Math.PI) / 180));
  return { lat: Math.max(-89.9, Math.min(89.9, lat)), lng: ((lng + 540) % 360) - 180 };
}

// The largest of 1, 2, 5 x 10^k metres that is at most maxKm.
function niceKm(maxKm) {
  const p = 10 ** Math.floor(Math.log10(maxKm));
  for (const m of [5, 2, 1]) if (m * p <= maxKm) return m * p;
  return p;
}

// --------------------------------------------------------------------------- drawing

function resize() {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * dpr);
  canvas.height = Math.round(canvas.clientHeight * dpr);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (!state.zoomed) fitRadius();
  state.dirty = true;
}

function fitRadius() {
  const r = state.radiusKm || 8.047;
  const half = Math.min(canvas.clientWidth, canvas.clientHeight) / 2;
  if (half > 0) state.pxPerKm = (half * 0.9) / r;
}

function drawGrid(w, h) {
  // Lines every `step` km through the user's position, so the user sits on a crossing.
  const step = niceKm(90 / state.pxPerKm);
  const origin = toScreen(state.pos.lat, state.pos.lng);
  const px = step * state.pxPerKm;
  ctx.lineWidth = 1;
  for (let pass = 0; pass < 2; pass++) {
    ctx.strokeStyle = pass ? 'rgba(60, 70, 90, 0.16)' : 'rgba(60, 70, 90, 0.07)';
    const every = pass ? px * 5 : px;
    if (every < 4) continue;
    ctx.beginPath();
    for (let x = origin.x % every; x < w; x += every) { ctx.moveTo(Math.round(x) + 0.5, 0); ctx.lineTo(Math.round(x) + 0.5, h); }
    for (let y = origin.y % every; y < h; y += every) { ctx.moveTo(0, Math.round(y) + 0.5); ctx.lineTo(w, Math.round(y) + 0.5); }
    ctx.stroke();
  }
  ctx.fillStyle = 'rgba(60, 70, 90, 0.55)';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(`grid ${formatKm(step)}`, 56, h - 36);
}

function drawScaleBar(w, h) {
  const km = niceKm(160 / state.pxPerKm);
  const len = km * state.pxPerKm, x = 56, y = h - 18;
  ctx.strokeStyle = '#1d2430';
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x, y - 6); ctx.lineTo(x, y); ctx.lineTo(x + len, y); ctx.lineTo(x + len, y - 6);
  ctx.stroke();
  ctx.fillStyle = '#1d2430';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(formatKm(km), x + len + 8, y + 1);
}

function drawRadius() {
  if (!state.radiusKm) return;
  const c = toScreen(state.pos.lat, state.pos.lng);
  ctx.save();
  ctx.setLineDash([6, 6]);
  ctx.strokeStyle = 'rgba(47, 111, 223, 0.45)';
  ctx.fillStyle = 'rgba(47, 111, 223, 0.04)';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.arc(c.x, c.y, state.radiusKm * state.pxPerKm, 0, 2 * Math.PI);
  ctx.fill();
  ctx.stroke();
  ctx.restore();
}

function drawFriend(f, now) {
  const alpha = f.goneAt ? Math.max(0, 1 - (now - f.goneAt) / FADE_MS) : 1;
  if (alpha <= 0) return;
  // Trail: older positions fainter.
  if (f.trail.length > 1) {
    ctx.lineWidth = 2;
    for (let i = 1; i < f.trail.length; i++) {
      const a = toScreen(f.trail[i - 1].lat, f.trail[i - 1].lng), b = toScreen(f.trail[i].lat, f.trail[i].lng);
      ctx.strokeStyle = friendColor(f.id, (alpha * 0.6 * i) / f.trail.length);
      ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
    }
    for (let i = 0; i < f.trail.length - 1; i++) {
      const p = toScreen(f.trail[i].lat, f.trail[i].lng);
      ctx.fillStyle = friendColor(f.id, (alpha * 0.5 * (i + 1)) / f.trail.length);
      ctx.beginPath(); ctx.arc(p.x, p.y, 2.5, 0, 2 * Math.PI); ctx.fill();
    }
  }
  const p = toScreen(f.lat, f.lng);
  ctx.fillStyle = friendColor(f.id, alpha);
  ctx.strokeStyle = `rgba(255, 255, 255, ${alpha})`;
  ctx.lineWidth = 2;
  ctx.beginPath(); ctx.arc(p.x, p.y, 7, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
  const label = `#${f.id}  ${formatKm(f.distKm)}${f.goneAt ? '  (gone)' : ''}`;
  ctx.font = '600 12px system-ui, sans-serif';
  const tw = ctx.measureText(label).width;
  ctx.fillStyle = `rgba(255, 255, 255, ${0.85 * alpha})`;
  ctx.fillRect(p.x + 10, p.y - 9, tw + 8, 18);
  ctx.fillStyle = `rgba(29, 36, 48, ${alpha})`;
  ctx.fillText(label, p.x + 14, p.y + 4);
}

// A stranger: a grey dot with no name and no trail, only its rounded distance (the gateway
// shows the centre of a ~150 m cell, never where the person is).
function drawStranger(s, now) {
  const alpha = s.goneAt ? Math.max(0, 1 - (now - s.goneAt) / FADE_MS) : 1;
  if (alpha <= 0) return;
  const p = toScreen(s.lat, s.lng);
  ctx.fillStyle = `rgba(120, 126, 138, ${0.55 * alpha})`;
  ctx.strokeStyle = `rgba(255, 255, 255, ${alpha})`;
  ctx.lineWidth = 1.5;
  ctx.beginPath(); ctx.arc(p.x, p.y, 5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = `rgba(90, 96, 108, ${alpha})`;
  ctx.fillText(formatKm(s.distKm), p.x + 8, p.y + 4);
}

function drawMe() {
  const p = toScreen(state.pos.lat, state.pos.lng);
  ctx.fillStyle = 'rgba(47, 111, 223, 0.18)';
  ctx.beginPath(); ctx.arc(p.x, p.y, 16, 0, 2 * Math.PI); ctx.fill();
  ctx.fillStyle = '#2f6fdf';
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 3;
  ctx.beginPath(); ctx.arc(p.x, p.y, 8, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
  ctx.font = '600 12px system-ui, sans-serif';
  ctx.fillStyle = '#1d2430';
  ctx.fillText(state.me ? `me (#${state.me.id})` : 'me', p.x + 14, p.y - 10);
}

function draw() {
  const w = canvas.clientWidth, h = canvas.clientHeight, now = Date.now();
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = '#fbfaf7';
  ctx.fillRect(0, 0, w, h);
  if (!state.pos) return;
  drawGrid(w, h);
  drawRadius();
  let fading = false;
  for (const s of state.strangers.values()) {
    drawStranger(s, now);
    if (s.goneAt) {
      if (now - s.goneAt >= FADE_MS) state.strangers.delete(s.sid);
      else fading = true;
    }
  }
  for (const f of state.friends.values()) {
    drawFriend(f, now);
    if (f.goneAt) {
      if (now - f.goneAt >= FADE_MS) state.friends.delete(f.id);
      else fading = true;
    }
  }
  drawMe();
  drawScaleBar(w, h);
  state.dirty = fading;
}

// ---------------------------------------------------------------------- the side list

function renderList() {
  const shown = [...state.friends.values()].filter((f) => !f.goneAt);
  for (const f of shown) f.distKm = distanceKm(state.pos.lat, state.pos.lng, f.lat, f.lng);
  shown.sort((a, b) => a.distKm - b.distKm || a.id - b.id);
  const items = shown.map((f) => el('li', {
    class: 'friend', 'data-friend-id': String(f.id), 'data-dist-km': f.distKm.toFixed(4),
  },
  (() => { const d = el('span', { class: 'dot' }); d.style.background = friendColor(f.id); return d; })(),
  el('span', { class: 'name', textContent: `#${f.id}` }),
  el('span', { class: 'dist', textContent: formatKm(f.distKm) }),
  el('span', { class: 'age', textContent: `moved ${formatAge(f.ts)}` })));
  $('friends').replaceChildren(...items);
  $('friend-count').textContent = String(shown.length);
  $('friends-empty').hidden = shown.length > 0;
  const strangers = [...state.strangers.values()].filter((x) => !x.goneAt);
  $('stranger-count').textContent = String(strangers.length);
  canvas.dataset.strangers = String(strangers.length);
  state.listDirty = false;
}

function frame() {
  if (state.dirty) draw();
  if (state.listDirty) renderList();
  requestAnimationFrame(frame);
}

// Ages in the list and fades on the map go on between events.
setInterval(() => { state.listDirty = true; }, 1000);

// ------------------------------------------------------------------------ the session

function showFriend(f) {
  const known = state.friends.get(f.id);
  const trail = known && !known.goneAt ? known.trail : [];
  if (!trail.length || trail[trail.length - 1].lat !== f.lat || trail[trail.length - 1].lng !== f.lng) {
    trail.push({ lat: f.lat, lng: f.lng });
  }
  while (trail.length > TRAIL) trail.shift();
  state.friends.set(f.id, { ...f, trail, goneAt: 0 });
}

function hideFriend(id) {
  const f = state.friends.get(id);
  if (f && !f.goneAt) f.goneAt = Date.now();
}

// Where the user is, on the canvas element too (for scripts and tests: the map itself is pixels).
function showPos() {
  canvas.dataset.lat = state.pos.lat.toFixed(7);
  canvas.dataset.lng = state.pos.lng.toFixed(7);
}

function setConn(text, st) {
  const c = $('conn');
  c.textContent = text;
  c.dataset.state = st;
}

function onState(s) {
  switch (s.state) {
    case 'connecting': setConn(s.attempt ? `reconnecting (try ${s.attempt + 1})` : 'connecting', 'connecting'); break;
    case 'open': setConn('signing in', 'open'); break;
    case 'live': setConn('live', 'live'); break;
    case 'waiting': setConn(`reconnecting in ${(s.delayMs / 1000).toFixed(1)} s`, 'waiting'); break;
    case 'closed':
      setConn(`closed: ${s.reason.replace('_', ' ')}`, 'closed');
      if (s.reason === 'bad_token' || s.reason === 'token_expired') askToken(`The token was refused (${s.reason}). Paste a new one.`);
      break;
    default: break;
  }
}

function moveMe(lat, lng) {
  state.pos = { lat, lng };
  showPos();
  state.dirty = state.listDirty = true;
  if (state.client) state.client.sendLocation(lat, lng);
}

async function start(token) {
  $('token-dialog').hidden = true;
  if (state.client) state.client.close();
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const client = connect(`${scheme}//${location.host}/ws`, { token });
  state.client = client;
  client.on('state', onState);
  client.on('nearby', (n) => {
    state.radiusKm = client.radiusKm || n.radiusKm;
    if (!state.zoomed) fitRadius();
    $('radius').textContent = `within ${formatKm(state.radiusKm)} of you`;
    const ids = new Set(n.friends.map((f) => f.id));
    for (const id of state.friends.keys()) if (!ids.has(id)) hideFriend(id);
    for (const f of n.friends) showFriend(f);
    state.dirty = state.listDirty = true;
  });
  client.on('friend', (f) => { showFriend(f); state.dirty = state.listDirty = true; });
  client.on('gone', ({ id }) => { hideFriend(id); state.dirty = state.listDirty = true; });
  client.on('stranger', (x) => { state.strangers.set(x.sid, { ...x, goneAt: 0 }); state.dirty = state.listDirty = true; });
  client.on('stranger_gone', ({ sid }) => {
    const x = state.strangers.get(sid);
    if (x && !x.goneAt) x.goneAt = Date.now();
    state.dirty = state.listDirty = true;
  });
  if ($('strangers').checked) client.setStrangers(true);
  $('strangers').disabled = false;
  client.on('error', (e) => { if (e.code !== 'rate_limited') console.warn('nearby:', e.code, e.message); });
  client.sendLocation(state.pos.lat, state.pos.lng);
  try {
    await refreshMe();
    $('sharing').checked = state.me.sharing;
    $('sharing').disabled = false;
    state.dirty = true;
  } catch (e) {
    if (e.status === 401) askToken('The token was refused. Paste a new one.');
    else $('whoami').textContent = `cannot read your account: ${e.message}`;
    return;
  }
  refreshRequests();
}

function askToken(message) {
  $('token-error').textContent = message || '';
  $('token-dialog').hidden = false;
  $('token-input').focus();
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = $('token-input').value.trim();
  if (!token) return;
  // Kept in the fragment, so a reload signs in again; the fragment never reaches a server.
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  p.set('token', token);
  history.replaceState(null, '', `#${p}`);
  start(token);
});

// Strangers: anonymous, coarse, both ways (off again at every reload).
$('strangers').addEventListener('change', (ev) => {
  if (state.client) state.client.setStrangers(ev.target.checked);
});

$('sharing').addEventListener('change', async (ev) => {
  const want = ev.target.checked;
  ev.target.disabled = true;
  try {
    const r = await state.client.setSharing(want);
    ev.target.checked = r.sharing;
  } catch (e) {
    ev.target.checked = !want;
    console.warn('sharing:', e.message);
  } finally {
    ev.target.disabled = false;
  }
});

// ------------------------------------------------------------------- friend requests

let requestsTimer = null;

async function refreshMe() {
  state.me = await state.client.me();
  const n = state.me.friends;
  $('whoami').textContent = `user #${state.me.id} · ${n} friend${n === 1 ? '' : 's'}`;
}

async function requestAction(fn, id, what) {
  try {
    await fn(id);
    $('request-status').textContent = `${what} #${id}`;
    await refreshMe();
  } catch (e) {
    $('request-status').textContent = `${what} #${id} failed: ${e.code || e.message}`;
  }
  refreshRequests();
}

async function refreshRequests() {
  clearTimeout(requestsTimer);
  requestsTimer = setTimeout(refreshRequests, REQUESTS_EVERY_MS);
  if (!state.client || document.visibilityState === 'hidden') return;
  let r;
  try {
    r = await state.client.listFriendRequests();
  } catch {
    return;
  }
  const c = state.client;
  $('incoming').replaceChildren(...r.incoming.map(({ id }) => el('li',
    { 'data-request-id': String(id), 'data-direction': 'incoming' },
    el('span', { textContent: `#${id}` }),
    el('button', { class: 'accept', 'data-accept-id': String(id), textContent: 'Accept', onclick: () => requestAction(c.acceptFriendRequest, id, 'accepted') }),
    el('button', { 'data-decline-id': String(id), textContent: 'Decline', onclick: () => requestAction(c.declineFriendRequest, id, 'declined') }))));
  $('outgoing').replaceChildren(...r.outgoing.map(({ id }) => el('li',
    { 'data-request-id': String(id), 'data-direction': 'outgoing' },
    el('span', { textContent: `#${id}` }),
    el('button', { 'data-cancel-id': String(id), textContent: 'Cancel', onclick: () => requestAction(c.cancelFriendRequest, id, 'cancelled') }))));
}

$('request-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const id = $('request-id').value.trim();
  if (!state.client || !id) return;
  try {
    const r = await state.client.sendFriendRequest(id);
    $('request-status').textContent = r.status === 'friends' ? `you and #${id} are friends now` : `request sent to #${id}`;
    $('request-id').value = '';
    if (r.status === 'friends') await refreshMe();
  } catch (e) {
    $('request-status').textContent = `cannot send: ${e.code || e.message}`;
  }
  refreshRequests();
});

// --------------------------------------------------------------------- map controls

let drag = null; // {mode: 'me'|'pan', x, y, view}

canvas.addEventListener('pointerdown', (ev) => {
  if (!state.pos) return;
  const r = canvas.getBoundingClientRect();
  const x = ev.clientX - r.left, y = ev.clientY - r.top;
  const me = toScreen(state.pos.lat, state.pos.lng);
  const onMe = Math.hypot(x - me.x, y - me.y) <= 16;
  drag = { mode: onMe ? 'me' : 'pan', x, y, view: { ...state.view } };
  canvas.setPointerCapture(ev.pointerId);
  canvas.classList.add('dragging');
});

canvas.addEventListener('pointermove', (ev) => {
  if (!drag) return;
  const r = canvas.getBoundingClientRect();
  const x = ev.clientX - r.left, y = ev.clientY - r.top;
  if (drag.mode === 'me') {
    const p = toWorld(x, y);
    if ($('follow').checked) stopFollowing();
    moveMe(p.lat, p.lng);
  } else {
    const kx = (x - drag.x) / state.pxPerKm, ky = (y - drag.y) / state.pxPerKm;
    state.view = {
      lat: drag.view.lat + ky / KM_PER_DEG,
      lng: drag.view.lng - kx / (KM_PER_DEG * Math.cos((drag.view.lat * Math.PI) / 180)),
    };
    state.dirty = true;
  }
});

function endDrag() {
  drag = null;
  canvas.classList.remove('dragging');
}
canvas.addEventListener('pointerup', endDrag);
canvas.addEventListener('pointercancel', endDrag);

function zoom(factor, x = canvas.clientWidth / 2, y = canvas.clientHeight / 2) {
  const before = toWorld(x, y);
  state.pxPerKm = Math.max(0.05, Math.min(20000, state.pxPerKm * factor));
  const after = toWorld(x, y);
  state.view = { lat: state.view.lat + before.lat - after.lat, lng: state.view.lng + before.lng - after.lng };
  state.zoomed = true;
  state.dirty = true;
}

canvas.addEventListener('wheel', (ev) => {
  ev.preventDefault();
  const r = canvas.getBoundingClientRect();
  zoom(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
}, { passive: false });
$('zoom-in').addEventListener('click', () => zoom(1.5));
$('zoom-out').addEventListener('click', () => zoom(1 / 1.5));
$('recenter').addEventListener('click', () => {
  state.view = { ...state.pos };
  state.zoomed = false;
  fitRadius();
  state.dirty = true;
});

function stopFollowing() {
  if (state.watchId !== null) navigator.geolocation.clearWatch(state.watchId);
  state.watchId = null;
  $('follow').checked = false;
}

$('follow').addEventListener('change', (ev) => {
  if (!ev.target.checked) { stopFollowing(); return; }
  if (!navigator.geolocation) { stopFollowing(); $('map-help').title = 'no geolocation in this browser'; return; }
  state.watchId = navigator.geolocation.watchPosition((p) => {
    moveMe(p.coords.latitude, p.coords.longitude);
    state.view = { ...state.pos };
  }, (err) => {
    console.warn('geolocation:', err.message);
    stopFollowing();
  }, { enableHighAccuracy: true, maximumAge: 5000 });
});

window.addEventListener('resize', resize);

// --------------------------------------------------------------------------- start

{
  const lat = Number(params.get('lat')), lng = Number(params.get('lng'));
  state.pos = params.has('lat') && params.has('lng') && Number.isFinite(lat) && Number.isFinite(lng) &&
    Math.abs(lat) <= 90 && Math.abs(lng) <= 180 ? { lat, lng } : { ...DEFAULT_POS };
  state.view = { ...state.pos };
  showPos();
  resize();
  requestAnimationFrame(frame);
  const token = params.get('token');
  if (token) start(token);
  else askToken();
}
