// lib.mjs: what the JavaScript tests share: tokens, REST calls, a phone that records every frame,
// checks, waits, distances, and a raw Redis client for forging what only a broken or hostile
// pub/sub node could send. Written with the npm packages ws and @msgpack/msgpack, so the wire
// format is checked by code that is not ours.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { encode, decode } from '@msgpack/msgpack';
import WebSocket from 'ws';

export function parseArgs(argv) {
  return Object.fromEntries(argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []));
}

// Tokens: one implementation for every JS test (token.mjs); makeToken takes what readSecret
// reads from a key file, an HS256 secret or an Ed25519 private key in PEM.
export { makeToken, readSigningKey } from './token.mjs';

// A secret file's text less one trailing newline: a password, an HS256 secret or a PEM key.
export function readSecret(path) {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

export class Checker {
  constructor() { this.checks = 0; this.failures = 0; }
  check(cond, what) {
    this.checks++;
    if (!cond) {
      this.failures++;
      console.error(`FAIL: ${what}`);
    }
    return cond;
  }
  async waitFor(cond, ms, what) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (cond()) return true;
      await sleep(20);
    }
    return this.check(cond(), `${what} (waited ${ms} ms)`);
  }
  summary(name) {
    console.log(`${name}: ${this.checks - this.failures} passed, ${this.failures} failed`);
    return this.failures ? 1 : 0;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function haversine(lat1, lng1, lat2, lng2) {
  const r = Math.PI / 180, dlat = (lat2 - lat1) * r, dlng = (lng2 - lng1) * r;
  const h = Math.sin(dlat / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dlng / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

// REST call to the gateway behind a ws:// URL, as user (a token string, or a user id signed with secret).
export async function rest(method, wsUrl, path, token) {
  const base = wsUrl.replace('ws://', 'http://').replace(/\/ws$/, '');
  const res = await fetch(base + path, { method, headers: { Authorization: `Bearer ${token}` } });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON: kept as text */ }
  return { status: res.status, body: text, json };
}

// A phone: connects, sends init, records every frame with the time it arrived.
export class Phone {
  constructor(user, url, token) {
    this.user = user;
    this.url = url;
    this.token = token;
    this.frames = [];        // {at, m} every decoded frame, in order
    this.view = new Map();   // friend id -> last friend frame
    this.strangers = new Map(); // sid -> last stranger frame
    this.errors = [];
    this.nearby = null;
    this.closed = null;
    this.closeReason = '';
    this.pos = null;
    this.ws = new WebSocket(url);
    this.open = new Promise((resolve, reject) => {
      this.ws.on('open', resolve);
      this.ws.on('error', reject);
    });
    this.ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    this.ws.on('close', (code, reason) => { this.closed = code; this.closeReason = String(reason); });
    this.ws.on('error', () => {});
  }
  send(obj) { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encode(obj)); }
  async init() {
    await this.open;
    this.send({ t: 'init', token: this.token });
  }
  move(lat, lng, ts = Date.now()) {
    this.pos = { lat, lng };
    this.send({ t: 'loc', lat, lng, ts });
  }
  onMessage(data, isBinary) {
    if (!isBinary) { this.errors.push({ code: 'text_frame' }); return; }
    const m = decode(data);
    this.frames.push({ at: Date.now(), m });
    if (m.t === 'err') { this.errors.push(m); return; }
    if (m.t === 'nearby') {
      this.nearby = m;
      this.view = new Map();
      for (const f of m.friends) this.view.set(Number(f.id), f);
    } else if (m.t === 'friend') {
      this.view.set(Number(m.id), m);
    } else if (m.t === 'gone') {
      this.view.delete(Number(m.id));
    } else if (m.t === 'stranger') {
      this.strangers.set(m.sid, m);
    } else if (m.t === 'stranger_gone') {
      this.strangers.delete(m.sid);
    }
  }
  // Every position of user this phone was shown (in nearby or friend frames) since time t.
  positionsOf(user, since = 0) {
    const out = [];
    for (const { at, m } of this.frames) {
      if (at < since) continue;
      if (m.t === 'friend' && Number(m.id) === user) out.push({ at, m });
      if (m.t === 'nearby') for (const f of m.friends) if (Number(f.id) === user) out.push({ at, m: f });
    }
    return out;
  }
  close() { try { this.ws.close(); } catch { /* already closed */ } }
}

function resp(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

// A Redis client speaking RESP by hand, for sending bytes no gateway would send. With
// auth {user, passwordFile} it sends AUTH first. Answers the command's one-line reply.
export function redisCommand(port, args, auth = null, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host: '127.0.0.1', port });
    const out = [];
    if (auth) out.push(resp(['AUTH', auth.user, readFileSync(auth.passwordFile, 'utf8').trim()]));
    out.push(resp(args));
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('redis timeout')); }, timeoutMs);
    sock.on('connect', () => sock.write(Buffer.concat(out)));
    sock.on('data', (d) => {
      got = Buffer.concat([got, d]);
      const lines = got.toString().split('\r\n');
      if (lines.length > out.length) {
        clearTimeout(timer);
        sock.end();
        resolve(`${lines[out.length - 1]}\r\n`);
      }
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

export { encode, decode };
