// nearby.js: the nearby client, one ES module for browsers and Node.js 18+: a WebSocket session
// to the gateways that reconnects by itself, and the /v1 REST API as promises.
//
//   import { connect } from './nearby.js';
//   const c = connect('ws://127.0.0.1:28080/ws', { token });
//   c.on('friend', (f) => console.log(f.id, f.distKm));
//   c.sendLocation(48.8566, 2.3522);
//   await c.sendFriendRequest(42);
//
// Frames are msgpack (the vendored copy of @msgpack/msgpack's ESM build, vendor/README.md), so a
// page uses this file as it is, with no build step. In Node.js the WebSocket is the global one
// when there is one (Node 22+), else the npm package ws.

import { decode, encode } from './vendor/msgpack/index.mjs';

export const DEFAULTS = Object.freeze({
  backoffBaseMs: 500,      // the first reconnect waits up to this much
  backoffMaxMs: 30000,     // and no reconnect waits longer than this
  minSendIntervalMs: 1000, // positions go out at most this often (the gateways allow 1/s)
  nearbyTimeoutMs: 15000,  // a session without its nearby list by then is tried again
});

// Close codes and error codes after which reconnecting cannot help.
const CLOSE_TOKEN_EXPIRED = 4001;
const CLOSE_ACCOUNT_DELETED = 4003;

// An answer of the REST API that is not a success: status, and the API's code and message.
export class NearbyError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.name = 'NearbyError';
    this.status = status;
    this.code = code;
  }
}

// Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): a uniform wait in
// [0, min(max, base * 2^attempt)), so that phones cut off together do not come back together.
export function backoffDelay(attempt, baseMs = DEFAULTS.backoffBaseMs, maxMs = DEFAULTS.backoffMaxMs,
  random = Math.random) {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * cap);
}

// The REST API's origin behind a WebSocket URL: ws://host:port/ws -> http://host:port.
export function restBaseOf(wsUrl) {
  const u = new URL(wsUrl);
  const scheme = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:';
  return `${scheme}//${u.host}${u.pathname.replace(/\/ws\/?$/, '').replace(/\/$/, '')}`;
}

// Great-circle distance in km, as the gateways compute it (geo/geo.h).
export function distanceKm(lat1, lng1, lat2, lng2) {
  const r = Math.PI / 180;
  const h = Math.sin(((lat2 - lat1) * r) / 2) ** 2 +
    Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lng2 - lng1) * r) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

// A user id as the API writes it: decimal, 1..2^63-1.
function idPath(id) {
  const s = typeof id === 'bigint' ? id.toString() : String(id);
  if (!/^[1-9][0-9]{0,18}$/.test(s) || BigInt(s) > 9223372036854775807n) {
    throw new TypeError(`not a user id: ${s}`);
  }
  return s;
}

// The REST API (README, "REST API") for the user of getToken(), at getBase(). Every call returns
// a promise of the decoded JSON answer, and rejects with a NearbyError for a non-2xx answer.
export function createRest({ base, token, fetch: fetchImpl } = {}) {
  const getBase = typeof base === 'function' ? base : () => base;
  const getToken = typeof token === 'function' ? token : () => token;
  const doFetch = fetchImpl || ((...a) => globalThis.fetch(...a));
  async function call(method, path) {
    const res = await doFetch(getBase() + path, {
      method,
      headers: { Authorization: `Bearer ${getToken()}` },
    });
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = null; }
    if (!res.ok) {
      throw new NearbyError(res.status, body?.error || 'http_error', body?.message || text.trim());
    }
    return body;
  }
  return {
    me: () => call('GET', '/v1/me'),
    setSharing: (on) => call('PUT', on ? '/v1/sharing/on' : '/v1/sharing/off'),
    listFriendRequests: () => call('GET', '/v1/friend-requests'),
    sendFriendRequest: (id) => call('POST', `/v1/friend-requests/${idPath(id)}`),
    acceptFriendRequest: (id) => call('PUT', `/v1/friend-requests/${idPath(id)}/accept`),
    // Declining someone's request and cancelling one's own are the same call.
    declineFriendRequest: (id) => call('DELETE', `/v1/friend-requests/${idPath(id)}`),
    cancelFriendRequest: (id) => call('DELETE', `/v1/friend-requests/${idPath(id)}`),
    listFriends: () => call('GET', '/v1/friends'),
    unfriend: (id) => call('DELETE', `/v1/friends/${idPath(id)}`),
    block: (id) => call('PUT', `/v1/blocks/${idPath(id)}`),
    unblock: (id) => call('DELETE', `/v1/blocks/${idPath(id)}`),
    listBlocks: () => call('GET', '/v1/blocks'),
    history: ({ from, to, limit } = {}) => {
      const q = new URLSearchParams();
      if (from !== undefined) q.set('from', String(from));
      if (to !== undefined) q.set('to', String(to));
      if (limit !== undefined) q.set('limit', String(limit));
      const qs = q.toString();
      return call('GET', `/v1/me/history${qs ? `?${qs}` : ''}`);
    },
    eraseHistory: () => call('DELETE', '/v1/me/history'),
    deleteAccount: () => call('DELETE', '/v1/me'),
  };
}

const REST_METHODS = ['me', 'setSharing', 'listFriendRequests', 'sendFriendRequest',
  'acceptFriendRequest', 'declineFriendRequest', 'cancelFriendRequest', 'listFriends', 'unfriend',
  'block', 'unblock', 'listBlocks', 'history', 'eraseHistory', 'deleteAccount'];

let wsModule = null; // Node without a global WebSocket: the ws package, loaded once
async function webSocketClass(explicit) {
  if (explicit) return explicit;
  if (typeof globalThis.WebSocket === 'function') return globalThis.WebSocket;
  if (!wsModule) wsModule = import('ws');
  return (await wsModule).default;
}

function friendOf(m) {
  return { id: Number(m.id), lat: m.lat, lng: m.lng, ts: Number(m.ts), distKm: m.dist_km };
}

// A stranger as the gateway shows one: an anonymous sid (16 hex digits, new every session of
// theirs), the centre of the ~150 m cell they are in, and the distance to it rounded to 0.1 km.
function strangerOf(m) {
  return { sid: String(m.sid), lat: m.lat, lng: m.lng, distKm: m.dist_km };
}

// One user's live session. States: 'connecting' (opening a socket), 'open' (init sent, waiting
// for the nearby list), 'live', 'waiting' (to reconnect after delayMs), 'closed' (for good:
// reason says why). friends keeps the last known position of each friend in range, also while
// reconnecting, so that a page does not flash empty; the next nearby list replaces it.
// strangers (sid -> stranger) holds what the gateway shows while strangers are on
// (setStrangers); every new session starts with none and strangers appear as they move.
export class NearbyClient {
  constructor(urls, options = {}) {
    this.urls = (Array.isArray(urls) ? urls : [urls]).map(String);
    if (this.urls.length === 0) throw new TypeError('connect: no URL');
    if (!options.token) throw new TypeError('connect: no token');
    this.options = { ...DEFAULTS, ...options };
    this.token = options.token;
    this.state = 'idle';
    this.reason = '';
    this.friends = new Map();
    this.strangers = new Map();
    this.strangersOn = Boolean(options.strangers); // asked for; sent again after a reconnect
    this.radiusKm = options.radiusKm ?? null; // asked for; null: the server's default
    this.serverRadiusKm = null;  // that default, from the nearby list
    this.hadLive = false;        // a nearby list came before: the next one is a reconnect's
    this.position = null;        // the last position given to sendLocation
    this.attempt = 0;            // failed connects since the last live session
    this.urlIndex = 0;
    this.listeners = new Map();
    this.ws = null;
    this.sessionToken = null;    // the token the current socket's init carried
    this.lastSentAt = 0;
    this.sendTimer = null;
    this.retryTimer = null;
    this.nearbyTimer = null;
    this.rest = createRest({ base: () => this.restBase(), token: () => this.token, fetch: options.fetch });
    for (const name of REST_METHODS) this[name] = (...args) => this.rest[name](...args);
  }

  // The REST API's origin: options.restUrl, else the one of the URL in use.
  restBase() {
    return this.options.restUrl || restBaseOf(this.urls[this.urlIndex]);
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return this;
  }

  off(type, fn) {
    this.listeners.get(type)?.delete(fn);
    return this;
  }

  once(type, fn) {
    const wrap = (ev) => { this.off(type, wrap); fn(ev); };
    return this.on(type, wrap);
  }

  emit(type, ev) {
    for (const fn of [...(this.listeners.get(type) || [])]) {
      try { fn(ev); } catch (e) { setTimeout(() => { throw e; }); } // a listener's bug is its own
    }
  }

  setState(state, extra = {}) {
    this.state = state;
    this.emit('state', { state, url: this.urls[this.urlIndex], ...extra });
  }

  start() {
    if (this.state === 'idle') this.open();
    return this;
  }

  async open() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.state === 'closed') return;
    const url = this.urls[this.urlIndex];
    this.setState('connecting', { attempt: this.attempt });
    let ws;
    try {
      const WS = await webSocketClass(this.options.WebSocket);
      if (this.state === 'closed') return;
      ws = new WS(url);
    } catch (e) {
      this.emit('error', { code: 'connect_failed', message: String(e?.message || e) });
      this.scheduleReconnect({ code: 0, reason: 'cannot open a WebSocket' });
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.sessionToken = this.token;
      this.send({ t: 'init', token: this.token });
      // Sent at once: the nearby list is worked out from them.
      if (this.radiusKm !== null) this.send({ t: 'radius', km: this.radiusKm });
      // Off at every new session on the gateway's side: asked for again.
      if (this.strangersOn) this.send({ t: 'strangers', on: true });
      if (this.position) this.flushPosition(true);
      this.setState('open');
      this.nearbyTimer = setTimeout(() => {
        if (this.ws === ws && this.state === 'open') ws.close(4000, 'no nearby list');
      }, this.options.nearbyTimeoutMs);
    };
    ws.onmessage = (ev) => { if (this.ws === ws) this.onFrame(ev.data); };
    ws.onerror = () => {}; // the close that follows says what to do
    ws.onclose = (ev) => { if (this.ws === ws) this.onClose(ev.code, String(ev.reason || '')); };
  }

  onFrame(data) {
    let m;
    try {
      if (typeof data === 'string') throw new Error('text frame');
      m = decode(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    } catch (e) {
      this.emit('error', { code: 'client_decode', message: String(e?.message || e) });
      return;
    }
    if (m === null || typeof m !== 'object') return;
    switch (m.t) {
      case 'nearby': {
        clearTimeout(this.nearbyTimer);
        const reconnect = this.hadLive;
        this.friends = new Map();
        this.clearStrangers();
        for (const f of m.friends || []) this.friends.set(Number(f.id), friendOf(f));
        if (this.radiusKm === null) this.serverRadiusKm = m.radius_km;
        this.attempt = 0;
        this.hadLive = true;
        this.setState('live');
        this.emit('nearby', { radiusKm: m.radius_km, friends: [...this.friends.values()], reconnect });
        break;
      }
      case 'friend': {
        const f = friendOf(m);
        this.friends.set(f.id, f);
        this.emit('friend', f);
        break;
      }
      case 'gone': {
        const id = Number(m.id);
        this.friends.delete(id);
        this.emit('gone', { id });
        break;
      }
      case 'stranger': {
        const s = strangerOf(m);
        this.strangers.set(s.sid, s);
        this.emit('stranger', s);
        break;
      }
      case 'stranger_gone': {
        const sid = String(m.sid);
        this.strangers.delete(sid);
        this.emit('stranger_gone', { sid });
        break;
      }
      case 'err': {
        this.emit('error', { code: m.code, message: m.msg || '' });
        if (m.code === 'bad_token') this.stop('bad_token');
        break;
      }
      default:
        break; // a newer gateway's message: ignored
    }
  }

  onClose(code, reason) {
    clearTimeout(this.nearbyTimer);
    this.ws = null;
    if (this.state === 'closed') return;
    if (code === CLOSE_ACCOUNT_DELETED) {
      this.stop('account_deleted', code);
    } else if (code === CLOSE_TOKEN_EXPIRED) {
      // Worth another try only with a token newer than the one the session ended with.
      if (this.token !== this.sessionToken) this.scheduleReconnect({ code, reason }, 0);
      else this.stop('token_expired', code);
    } else {
      this.scheduleReconnect({ code, reason });
    }
  }

  scheduleReconnect(why, delayMs) {
    this.ws = null;
    const delay = delayMs ?? backoffDelay(this.attempt, this.options.backoffBaseMs, this.options.backoffMaxMs);
    this.attempt++;
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.setState('waiting', { attempt: this.attempt, delayMs: delay, code: why.code, reason: why.reason });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  stop(reason, code = 1000) {
    if (this.state === 'closed') return;
    clearTimeout(this.retryTimer);
    clearTimeout(this.sendTimer);
    clearTimeout(this.nearbyTimer);
    const ws = this.ws;
    this.ws = null;
    this.reason = reason;
    this.setState('closed', { reason, code });
    if (ws) {
      try { ws.close(1000, reason); } catch { /* closing already */ }
    }
  }

  // Ends the session for good (state 'closed', reason 'closed').
  close() {
    this.stop('closed');
  }

  send(obj) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(encode(obj));
    return true;
  }

  // Moves the user. Positions go out at most every minSendIntervalMs; the latest one wins, and is
  // sent again after a reconnect.
  sendLocation(lat, lng) {
    if (!Number.isFinite(lat) || !Number.isFinite(lng) || Math.abs(lat) > 90 || Math.abs(lng) > 180) {
      throw new RangeError(`not a position: ${lat}, ${lng}`);
    }
    this.position = { lat, lng };
    this.flushPosition(false);
  }

  flushPosition(now) {
    if (!this.position || !this.ws) return;
    const wait = this.lastSentAt + this.options.minSendIntervalMs - Date.now();
    if (!now && wait > 0) {
      if (!this.sendTimer) {
        this.sendTimer = setTimeout(() => { this.sendTimer = null; this.flushPosition(true); }, wait);
      }
      return;
    }
    clearTimeout(this.sendTimer);
    this.sendTimer = null;
    if (this.send({ t: 'loc', lat: this.position.lat, lng: this.position.lng, ts: Date.now() })) {
      this.lastSentAt = Date.now();
    }
  }

  // Asks for another radius (km, up to the server's maximum); kept across reconnects.
  setRadius(km) {
    if (!Number.isFinite(km) || km <= 0) throw new RangeError(`not a radius: ${km}`);
    this.radiusKm = km;
    this.send({ t: 'radius', km });
  }

  // Strangers on or off (README "Strangers"): on shows this user, anonymous and coarse, to other
  // opted-in users nearby who are not friends, and shows them here ('stranger', 'stranger_gone');
  // kept across reconnects.
  setStrangers(on) {
    this.strangersOn = Boolean(on);
    this.send({ t: 'strangers', on: this.strangersOn });
    if (!this.strangersOn) this.clearStrangers();
  }

  // Forgets every stranger shown, telling the listeners.
  clearStrangers() {
    const sids = [...this.strangers.keys()];
    this.strangers = new Map();
    for (const sid of sids) this.emit('stranger_gone', { sid });
  }

  // A new token for the same user: extends the session past the old token's exp, and is used
  // from now on by the REST calls and the next reconnect.
  refresh(token) {
    if (!token) throw new TypeError('refresh: no token');
    this.token = token;
    this.send({ t: 'refresh', token });
  }
}

// Opens a session to url (or to each of an array of URLs in turn, one per reconnect) for the
// user of options.token. Options: token (required), radiusKm, strangers, backoffBaseMs, backoffMaxMs,
// minSendIntervalMs, nearbyTimeoutMs, restUrl, WebSocket, fetch.
export function connect(url, options) {
  return new NearbyClient(url, options).start();
}
