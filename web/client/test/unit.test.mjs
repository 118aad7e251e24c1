// unit.test.mjs: what the client computes on its own (backoff, URLs, distances, ids), and that
// the vendored msgpack is @msgpack/msgpack's ESM build byte for byte. No server: the end-to-end
// test (e2e.mjs) runs against a real cluster. Run with: node --test test/unit.test.mjs
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as npmMsgpack from '@msgpack/msgpack';
import * as vendored from '../vendor/msgpack/index.mjs';
import {
  DEFAULTS, NearbyClient, NearbyError, backoffDelay, connect, createRest, distanceKm, restBaseOf,
} from '../nearby.js';

const here = dirname(fileURLToPath(import.meta.url));

test('backoff: full jitter below an exponential cap that stops at the maximum', () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    const cap = Math.min(30000, 500 * 2 ** attempt);
    assert.equal(backoffDelay(attempt, 500, 30000, () => 0), 0);
    assert.equal(backoffDelay(attempt, 500, 30000, () => 0.999999), Math.floor(0.999999 * cap));
    const d = backoffDelay(attempt);
    assert.ok(d >= 0 && d < Math.min(DEFAULTS.backoffMaxMs, DEFAULTS.backoffBaseMs * 2 ** attempt));
  }
  assert.equal(backoffDelay(1000, 500, 30000, () => 0.5), 15000); // no overflow to Infinity
  assert.equal(backoffDelay(-1, 500, 30000, () => 0.5), 250);
  // the waits of many clients spread over the whole interval
  const waits = Array.from({ length: 2000 }, () => backoffDelay(3, 500, 30000));
  assert.ok(Math.min(...waits) < 400 && Math.max(...waits) > 3600);
});

test('REST origin of a WebSocket URL', () => {
  assert.equal(restBaseOf('ws://127.0.0.1:28080/ws'), 'http://127.0.0.1:28080');
  assert.equal(restBaseOf('wss://nearby.example/ws'), 'https://nearby.example');
  assert.equal(restBaseOf('ws://h:1/edge/ws'), 'http://h:1/edge');
  assert.equal(restBaseOf('http://h:2/'), 'http://h:2');
});

test('distance: the gateways\' great circle', () => {
  assert.equal(distanceKm(48.8566, 2.3522, 48.8566, 2.3522), 0);
  // one degree of latitude on the mean sphere of radius 6371.0088 km
  assert.ok(Math.abs(distanceKm(0, 0, 1, 0) - 111.19508) < 1e-4);
  // Paris - London, about 343.9 km
  assert.ok(Math.abs(distanceKm(48.8566, 2.3522, 51.5074, -0.1278) - 343.9) < 1);
});

test('REST calls refuse what is not a user id before any request', async () => {
  let calls = 0;
  const rest = createRest({ base: 'http://127.0.0.1:9', token: 't', fetch: () => { calls++; } });
  for (const bad of [0, -1, 1.5, '01', 'abc', '9223372036854775808', '', null]) {
    assert.throws(() => rest.sendFriendRequest(bad), TypeError, String(bad));
  }
  assert.equal(calls, 0);
  const e = new NearbyError(409, 'blocked', 'you block this user');
  assert.equal(e.status, 409);
  assert.equal(e.code, 'blocked');
});

test('connect wants a token and a URL', () => {
  assert.throws(() => connect('ws://127.0.0.1:9/ws', {}), TypeError);
  assert.throws(() => new NearbyClient([], { token: 't' }), TypeError);
  const c = new NearbyClient(['ws://a:1/ws', 'ws://b:2/ws'], { token: 't' });
  assert.equal(c.state, 'idle');
  assert.equal(c.restBase(), 'http://a:1');
  assert.throws(() => c.sendLocation(91, 0), RangeError);
  assert.throws(() => c.sendLocation(NaN, 0), RangeError);
  assert.throws(() => c.setRadius(0), RangeError);
  for (const name of ['me', 'setSharing', 'sendFriendRequest', 'acceptFriendRequest',
    'declineFriendRequest', 'cancelFriendRequest', 'listFriendRequests', 'unfriend', 'block',
    'unblock', 'history', 'eraseHistory', 'deleteAccount']) {
    assert.equal(typeof c[name], 'function', name);
  }
});

// Every .mjs file under dir, relative to dir.
function mjsFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.mjs')) out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

test('vendor/msgpack is @msgpack/msgpack\'s dist.esm, file by file', () => {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('@msgpack/msgpack/package.json'));
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(here, '..', 'package-lock.json'), 'utf8'));
  const readme = readFileSync(join(here, '..', 'vendor', 'README.md'), 'utf8');
  assert.equal(pkg.version, lock.packages['node_modules/@msgpack/msgpack'].version);
  assert.ok(readme.includes(`@msgpack/msgpack ${pkg.version}`), 'vendor/README.md names the version');
  const upstream = join(pkgDir, 'dist.esm');
  const ours = join(here, '..', 'vendor', 'msgpack');
  assert.deepEqual(mjsFiles(ours), mjsFiles(upstream));
  for (const f of mjsFiles(upstream)) {
    assert.ok(readFileSync(join(ours, f)).equals(readFileSync(join(upstream, f))), f);
  }
  // and the gateway embeds every one of them (web/meson.build)
  const meson = readFileSync(join(here, '..', '..', 'meson.build'), 'utf8');
  for (const f of mjsFiles(upstream)) assert.ok(meson.includes(`'client/vendor/msgpack/${f}'`), f);
});

test('the vendored copy encodes and decodes as the npm package does', () => {
  const frames = [
    { t: 'init', token: 'a.b.c' },
    { t: 'loc', lat: 48.8566, lng: 2.3522, ts: Date.now() },
    { t: 'nearby', radius_km: 8.047, friends: [{ id: 2 ** 40, lat: -1.5, lng: 179.9, ts: 1, dist_km: 0.25 }] },
  ];
  for (const f of frames) {
    const a = vendored.encode(f);
    assert.deepEqual(Buffer.from(a), Buffer.from(npmMsgpack.encode(f)));
    assert.deepEqual(vendored.decode(a), npmMsgpack.decode(a));
  }
});

// A WebSocket that records what the client sends and lets the test play the gateway.
class FakeSocket {
  static last = null;
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; FakeSocket.last = this; }
  send(bytes) { this.sent.push(vendored.decode(bytes)); }
  close() { this.readyState = 3; }
  open() { this.readyState = 1; this.onopen(); }
  receive(obj) { this.onmessage({ data: vendored.encode(obj) }); }
}

test('strangers: asked for after every (re)connect, shown and gone by sid, cleared by a new session', async () => {
  const c = connect('ws://127.0.0.1:9/ws', { token: 't', strangers: true, WebSocket: FakeSocket });
  await new Promise((r) => setTimeout(r, 10));
  const ws = FakeSocket.last;
  ws.open();
  assert.deepEqual(ws.sent.map((m) => m.t), ['init', 'strangers']);
  assert.equal(ws.sent[1].on, true);
  ws.receive({ t: 'nearby', radius_km: 8, friends: [] });
  const seen = [], gone = [];
  c.on('stranger', (s) => seen.push(s));
  c.on('stranger_gone', (g) => gone.push(g.sid));
  ws.receive({ t: 'stranger', sid: '00ff00ff00ff00ff', lat: 48.85, lng: 2.35, dist_km: 0.3 });
  ws.receive({ t: 'stranger', sid: '1111222233334444', lat: 48.86, lng: 2.35, dist_km: 1.1 });
  assert.equal(c.strangers.size, 2);
  assert.deepEqual(seen[0], { sid: '00ff00ff00ff00ff', lat: 48.85, lng: 2.35, distKm: 0.3 });
  ws.receive({ t: 'stranger_gone', sid: '00ff00ff00ff00ff' });
  assert.deepEqual([...c.strangers.keys()], ['1111222233334444']);
  // A new session's nearby: the old strangers are gone here too.
  ws.receive({ t: 'nearby', radius_km: 8, friends: [] });
  assert.equal(c.strangers.size, 0);
  assert.deepEqual(gone, ['00ff00ff00ff00ff', '1111222233334444']);
  c.setStrangers(false);
  assert.deepEqual(ws.sent.at(-1), { t: 'strangers', on: false });
  assert.equal(c.strangersOn, false);
  c.close();
});
