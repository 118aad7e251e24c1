// gateway-e2e.mjs: phones against real gateways: each phone must see exactly its friends
// within its radius and nothing about anyone else, through moves, sharing off, live friendship
// changes, bad input from other phones and a ring change. Exits 1 on any failed check.
import { exec, execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { decode, encode, haversine, makeToken, parseArgs, readSecret, sleep } from './lib.mjs';

const args = parseArgs(process.argv);
const secret = readSecret(args.secret);
const gateways = args.gateways.split(',');
const USERS = Number(args.users);
const RADIUS_KM = 8.047;
let failures = 0, checks = 0;

function check(cond, what) {
  checks++;
  if (!cond) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
}

const token = (user, ttl = 3600) => makeToken(secret, user, ttl);

// The graph test/integration/gateway.sh loads.
const isFriend = (a, b) => a !== b && (a + b) % 5 === 0;
const extraFriends = new Set(); // "a,b" pairs added over REST
const friends = (a, b) => (isFriend(a, b) || extraFriends.has(`${a},${b}`)) && !removed.has(`${a},${b}`);
const removed = new Set();

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(20);
  }
  check(cond(), `${what} (waited ${ms} ms)`);
  return false;
}

class Phone {
  constructor(user, url, tok = token(user)) {
    this.user = user;
    this.url = url;
    this.view = new Map();   // friend id -> {lat, lng, ts, dist_km}
    this.errors = [];
    this.foreign = [];       // messages about non-friends or itself
    this.nearby = null;
    this.closed = null;
    this.pos = null;
    this.sharing = true;
    this.ws = new WebSocket(url);
    this.open = new Promise((resolve, reject) => {
      this.ws.on('open', resolve);
      this.ws.on('error', reject);
    });
    this.ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    this.ws.on('close', (code) => { this.closed = code; });
    this.ws.on('error', () => {});
    this.token = tok;
  }
  send(obj) { this.ws.send(encode(obj)); }
  async init() {
    await this.open;
    this.send({ t: 'init', token: this.token });
  }
  move(lat, lng) {
    this.pos = { lat, lng };
    this.send({ t: 'loc', lat, lng, ts: Date.now() });
  }
  onMessage(data, isBinary) {
    if (!isBinary) { this.errors.push({ code: 'text_frame' }); return; }
    const m = decode(data);
    if (m.t === 'err') { this.errors.push(m); return; }
    if (m.t === 'nearby') {
      this.nearby = m;
      this.view = new Map();
      for (const f of m.friends) this.see(f);
      return;
    }
    if (m.t === 'friend') this.see(m);
    else if (m.t === 'gone') {
      if (!friends(this.user, Number(m.id)) && !this.view.has(Number(m.id))) this.foreign.push(m);
      this.view.delete(Number(m.id));
    }
  }
  see(f) {
    const id = Number(f.id);
    if (id === this.user || !friends(this.user, id)) this.foreign.push(f);
    if (f.dist_km > (this.nearby ? this.nearby.radius_km : RADIUS_KM) + 1e-9) this.foreign.push(f);
    this.view.set(id, f);
  }
}

// Deterministic positions in a ~22 x 15 km box around Paris.
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const spot = () => ({ lat: 48.75 + rnd() * 0.2, lng: 2.25 + rnd() * 0.2 });

const phones = [];
for (let u = 1; u <= USERS; u++) phones.push(new Phone(u, gateways[u % gateways.length]));
const byUser = (u) => phones[u - 1];

function expected(p) {
  const want = new Set();
  if (!p.pos) return want;
  for (const q of phones) {
    if (q === p || !q.pos || !q.sharing || !friends(p.user, q.user)) continue;
    if (haversine(p.pos.lat, p.pos.lng, q.pos.lat, q.pos.lng) <= RADIUS_KM) want.add(q.user);
  }
  return want;
}
const sameSet = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));
function allMatch() {
  return phones.every((p) => p.closed === null && sameSet(new Set(p.view.keys()), expected(p)));
}
function reportMismatches(stage) {
  for (const p of phones) {
    const got = new Set(p.view.keys()), want = expected(p);
    if (!sameSet(got, want))
      console.error(`  ${stage}: user ${p.user} shows [${[...got]}] want [${[...want]}]`);
  }
}
function checkPrivacy(stage) {
  for (const p of phones)
    check(p.foreign.length === 0, `${stage}: user ${p.user} heard of a non-friend: ${JSON.stringify(p.foreign[0])}`);
}

async function rest(method, gw, path, user) {
  const base = gw.replace('ws://', 'http://').replace(/\/ws$/, '');
  const res = await fetch(base + path, { method, headers: { Authorization: `Bearer ${token(user)}` } });
  return { status: res.status, body: await res.text() };
}

// 1. Every phone connects, half through each gateway, and gets its nearby.
await Promise.all(phones.map((p) => p.init()));
await waitFor(() => phones.every((p) => p.nearby !== null), 10000, 'every phone got nearby');
check(phones.every((p) => p.errors.length === 0), 'no err on init');

// 2. Everyone sends a position: each phone must show exactly its friends in range.
for (const p of phones) { const s = spot(); p.move(s.lat, s.lng); }
if (!await waitFor(allMatch, 5000, 'after first positions every phone shows its friends in range'))
  reportMismatches('first positions');
checkPrivacy('first positions');
const shownPairs = phones.reduce((n, p) => n + p.view.size, 0);
check(shownPairs > 20, `enough friends in range to mean something (${shownPairs})`);

// 3. A friend walks out of range: gone.
const watcher = phones.find((p) => p.view.size > 0);
const walker = byUser([...watcher.view.keys()][0]);
walker.move(walker.pos.lat + 1.0, walker.pos.lng);
await waitFor(() => !watcher.view.has(walker.user), 1000, 'a friend walking out of range becomes gone');
await waitFor(allMatch, 2000, 'all views right after the walk');

// 4. Sharing off: gone for everyone who showed the user, within a second.
const sharer = phones.find((p) => phones.some((q) => q.view.has(p.user)));
const showers = phones.filter((q) => q.view.has(sharer.user));
let r = await rest('PUT', sharer.url, '/v1/sharing/off', sharer.user);
check(r.status === 200, `sharing/off answers 200 (${r.status} ${r.body})`);
sharer.sharing = false;
await waitFor(() => showers.every((q) => !q.view.has(sharer.user)), 1000, 'sharing/off makes the user gone');
sharer.move(sharer.pos.lat, sharer.pos.lng); // must stay private
await sleep(300);
check(showers.every((q) => !q.view.has(sharer.user)), 'after sharing/off, moves stay private');
r = await rest('PUT', sharer.url, '/v1/sharing/on', sharer.user);
check(r.status === 200, `sharing/on answers 200 (${r.status})`);
sharer.sharing = true;
sharer.move(sharer.pos.lat, sharer.pos.lng);
await waitFor(allMatch, 2000, 'sharing back on: views right again');

// 5. A friendship added over REST takes effect live, both ways; removing it too.
let a = null, c = null;
outer: for (const p of phones) for (const q of phones)
  if (p.user < q.user && !friends(p.user, q.user) && p.url !== q.url) { a = p; c = q; break outer; }
c.move(a.pos.lat + 0.001, a.pos.lng);
await sleep(200);
r = await rest('PUT', a.url, `/v1/friends/${c.user}`, a.user);
check(r.status === 405, `PUT /v1/friends/{id} no longer befriends anyone: 405 (${r.status} ${r.body})`);
r = await rest('POST', a.url, `/v1/friend-requests/${c.user}`, a.user);
check(r.status === 202 && JSON.parse(r.body).status === 'requested', `a friend request answers 202 requested (${r.status} ${r.body})`);
await sleep(500);
check(!a.view.has(c.user) && !c.view.has(a.user), 'a pending request shows neither to the other');
r = await rest('PUT', c.url, `/v1/friend-requests/${a.user}/accept`, c.user);
check(r.status === 200 && JSON.parse(r.body).status === 'friends', `accepting answers 200 friends (${r.status} ${r.body})`);
extraFriends.add(`${a.user},${c.user}`); extraFriends.add(`${c.user},${a.user}`);
await waitFor(() => a.view.has(c.user) && c.view.has(a.user), 1000, 'an accepted friendship shows both ways within 1 s');
r = await rest('GET', a.url, '/v1/friends', a.user);
check(r.status === 200 && JSON.parse(r.body).friends.includes(c.user), `GET /v1/friends lists the new friend (${r.body})`);
r = await rest('DELETE', c.url, `/v1/friends/${a.user}`, c.user);
check(r.status === 200, `DELETE /v1/friends answers 200 (${r.status})`);
extraFriends.clear();
await waitFor(() => !a.view.has(c.user) && !c.view.has(a.user), 1000, 'a removed friendship is gone both ways within 1 s');
r = await rest('GET', a.url, '/v1/friends', 999999);
check(r.status === 200 && JSON.parse(r.body).friends.length === 0, 'a user with no friends gets an empty list');
r = await fetch(a.url.replace('ws://', 'http://').replace(/\/ws$/, '') + '/v1/friends', { headers: { Authorization: 'Bearer x.y.z' } });
check(r.status === 401, `a forged REST token gets 401 (${r.status})`);

// 6. Bad input from other phones never reaches anyone else, and the gateways keep serving.
const bad = new Phone(59, gateways[0]);
await bad.init();
await waitFor(() => bad.nearby !== null, 3000, 'the bad phone got nearby');
bad.ws.send(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]));
bad.ws.send(Buffer.from('garbage!'));
bad.send({ t: 'loc', lat: 'north', lng: 2.3, ts: 1 });
await waitFor(() => bad.errors.length >= 3, 1000, 'malformed frames get err');
check(bad.errors.every((e) => ['bad_frame', 'bad_value', 'bad_type'].includes(e.code)), `err codes: ${JSON.stringify(bad.errors)}`);
const big = new Phone(58, gateways[1]);
await big.init();
await waitFor(() => big.nearby !== null, 3000, 'the big-frame phone got nearby');
big.ws.send(Buffer.alloc(1 << 20, 0x41));
await waitFor(() => big.closed !== null, 2000, 'a 1 MiB frame closes the connection');
check(big.closed === 1009, `a 1 MiB frame closes with 1009 (${big.closed})`);
const forged = new Phone(57, gateways[0], token(57).replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A')));
await forged.init();
await waitFor(() => forged.closed !== null, 2000, 'a forged token closes the connection');
check(forged.errors.some((e) => e.code === 'bad_token') && forged.closed === 1008,
  `a forged token gets err bad_token and close 1008 (${JSON.stringify(forged.errors)}, ${forged.closed})`);
const expired = new Phone(54, gateways[1], token(54, -10));
await expired.init();
await waitFor(() => expired.closed !== null, 2000, 'an expired token closes the connection');
check(expired.errors.some((e) => e.code === 'bad_token') && expired.closed === 1008,
  `an expired token gets err bad_token and close 1008 (${JSON.stringify(expired.errors)}, ${expired.closed})`);
const tokenless = new Phone(53, gateways[0]);
await tokenless.open;
tokenless.send({ t: 'init' });
await waitFor(() => tokenless.errors.length > 0, 1000, 'an init without a token gets err');
check(tokenless.errors.every((e) => e.code === 'bad_frame') && tokenless.nearby === null,
  `an init without a token is a bad frame and gets no nearby (${JSON.stringify(tokenless.errors)})`);
tokenless.ws.close();
const silent = new Phone(56, gateways[1]);
await silent.open;
silent.send({ t: 'loc', lat: 1, lng: 1, ts: 1 });
await waitFor(() => silent.errors.some((e) => e.code === 'not_initialized'), 1000, 'loc before init gets not_initialized');
silent.ws.close();
bad.ws.close();
for (const p of phones) { const s = spot(); p.move(s.lat, s.lng); }
if (!await waitFor(allMatch, 5000, 'after bad input, every phone still right'))
  reportMismatches('after bad input');

// 7. A pub/sub node joins the ring: subscriptions move, updates keep arriving.
// The new node is hung at first: a gateway must not report the new epoch as
// applied before Redis has confirmed the subscriptions that moved there.
execSync(args['redis-server-cmd'], { stdio: 'ignore' });
const newNodePid = readFileSync(args['new-node-pidfile'], 'utf8').trim();
const status = () => JSON.parse(execSync(`${args.ringctl} status --json`).toString());
// Phase 1 only (--no-wait): the node joins; gateways listen on both owners.
process.kill(Number(newNodePid), 'SIGSTOP');
execSync(`${args.ringctl} add --no-wait ${args['new-node']}`, { stdio: 'ignore' });
await sleep(1000);
let st = status();
check(st.gateways.length === gateways.length && st.gateways.every((g) => g.lag === 1),
  `with the new node hung, no gateway reports the new epoch yet (${JSON.stringify(st)})`);
process.kill(Number(newNodePid), 'SIGCONT');
await waitFor(() => { st = status(); return st.gateways.every((g) => g.lag === 0); }, 5000,
  'once the new node answers, every gateway reports the new epoch');
// The same command again resumes and writes phase 2; it returns once every
// gateway applied it (run without blocking the phones' event loop).
const finished = await new Promise((resolve) =>
  exec(`${args.ringctl} add --timeout 20 ${args['new-node']}`, (err) => resolve(!err)));
check(finished, 'ringctl add resumed after --no-wait and finished phase 2');
st = status();
check(st.gateways.every((g) => g.lag === 0), `every gateway applied phase 2 (${JSON.stringify(st)})`);
for (const p of phones) { const s = spot(); p.move(s.lat, s.lng); }
if (!await waitFor(allMatch, 5000, 'after a node joined the ring, every phone still right'))
  reportMismatches('after ring change');
checkPrivacy('after ring change');

// 8. PostgreSQL stops: live updates keep flowing; history written once it is back.
const psql = (sql) => Number(execSync(`${args.psql} -Atc "${sql}"`).toString().trim());
const rowsBefore = psql('SELECT count(*) FROM location_history');
execSync(args['pg-stop'], { stdio: 'ignore' });
const pgStopped = Date.now();
for (let round = 0; round < 2; round++) {
  for (const p of phones) { const s = spot(); p.move(s.lat, s.lng); }
  if (!await waitFor(allMatch, 3000, `PostgreSQL down, round ${round}: every phone still right`))
    reportMismatches('postgres down');
  await sleep(300);
}
await sleep(Math.max(0, 5000 - (Date.now() - pgStopped))); // down for 5 s in all
execSync(args['pg-start'], { stdio: 'ignore' });
const wantRows = rowsBefore + 2 * phones.length;
await waitFor(() => psql('SELECT count(*) FROM location_history') >= wantRows, 10000,
  `history rows queued while PostgreSQL was down are written after it returns (want >= ${wantRows})`);

// 9. Nobody moves for longer than the location TTL: every shown friend goes.
//    Meanwhile a connection that never sends init is closed with 1008.
const ttl = Number(args['location-ttl']);
const mute = new Phone(55, gateways[0]);
await mute.open;
const muteOpened = Date.now();
await waitFor(() => phones.every((p) => p.view.size === 0), (ttl + 4) * 1000,
  'positions older than the TTL are gone for every phone');
await waitFor(() => mute.closed !== null, 13000 - (Date.now() - muteOpened), 'a phone that never sends init is cut off');
check(mute.closed === 1008, `no init within 10 s closes with 1008 (${mute.closed})`);
check(Date.now() - muteOpened >= 9500, 'not before the 10 s');
checkPrivacy('end');

for (const p of phones) p.ws.close();
console.log(`gateway e2e: ${checks - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
