// consent-e2e.mjs: nobody sees where a user is unless the user agreed. Phones of users that
// exist only from their first token (no seeding) on two real gateways; in each case two phones
// move inside each other's radius for seconds, and the frames received say who saw whom.
// Exits 1 on any failed check.
import { execSync } from 'node:child_process';
import {
  Checker, Phone, encode, makeToken, parseArgs, readSecret, redisCommand, rest, sleep,
} from './lib.mjs';

const args = parseArgs(process.argv);
const secret = readSecret(args.secret);
const gateways = args.gateways.split(',');
const nodePorts = args['node-ports'].split(',').map(Number);
const cachePort = Number(args['cache-port']);
// The cluster's Redis admin: what a test needs to forge what only a broken or hostile node
// or cache could hold (gateways cannot: their ACL user has no such rights).
const admin = { user: 'admin', passwordFile: args['redis-admin-password-file'] };
const psql = (sql) => execSync(`${args.psql} -Atc "${sql}"`).toString().trim();
const t = new Checker();
const check = t.check.bind(t);

// Fresh ids per run: the database starts empty and users appear on first sight.
let nextUser = 700000;
const newUser = () => nextUser++;
const tok = (user, ttl) => makeToken(secret, user, ttl);
const call = (method, gw, path, user) => rest(method, gateways[gw], path, tok(user));
const MOVE_MS = 2500; // "several seconds of movement inside the radius"

// Paris, all within a kilometre of each other.
let step = 0;
function wiggle(p) {
  step++;
  p.move(48.8566 + 0.001 * Math.sin(step + p.user), 2.3522 + 0.001 * Math.cos(step + p.user));
}

async function connect(user, gw, ttl = 3600) {
  const p = new Phone(user, gateways[gw], tok(user, ttl));
  await p.init();
  await t.waitFor(() => p.nearby !== null || p.closed !== null, 5000, `user ${user} got nearby`);
  return p;
}

// Moves every phone every 250 ms for ms.
async function moveFor(phones, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const p of phones) if (p.closed === null) wiggle(p);
    await sleep(250);
  }
}

async function befriend(a, b, gwA = 0, gwB = 1) {
  let r = await call('POST', gwA, `/v1/friend-requests/${b}`, a);
  check(r.status === 202, `request ${a} -> ${b}: 202 (${r.status} ${r.body})`);
  r = await call('PUT', gwB, `/v1/friend-requests/${a}/accept`, b);
  check(r.status === 200 && r.json?.status === 'friends', `accept ${b} <- ${a}: 200 friends (${r.status} ${r.body})`);
}

async function shareOn(u, gw = 0) {
  const r = await call('PUT', gw, '/v1/sharing/on', u);
  check(r.status === 200, `sharing on for ${u}: 200 (${r.status} ${r.body})`);
}

// Asserts that observer was shown no position of subject since `since`.
function neverSaw(observer, subject, since, what) {
  const seen = observer.positionsOf(subject.user, since);
  check(seen.length === 0, `${what}: ${observer.user} must not see ${subject.user}, saw ${JSON.stringify(seen[0])}`);
}

// A pair of fresh users on different gateways, both sharing unless told otherwise.
async function pair({ shareA = true, shareB = true } = {}) {
  const a = newUser(), b = newUser();
  if (shareA) await shareOn(a, 1);
  if (shareB) await shareOn(b, 0);
  return [await connect(a, 0), await connect(b, 1)];
}

async function seeEachOther(pa, pb, what) {
  await moveFor([pa, pb], 300);
  return t.waitFor(() => pa.view.has(pb.user) && pb.view.has(pa.user), 2000, `${what}: both see each other`);
}

// ---------------------------------------------------------------- users on first sight

{
  const u = newUser();
  const r = await call('GET', 0, '/v1/me', u);
  check(r.status === 200 && r.json?.id === u && r.json?.sharing === false && r.json?.friends === 0,
    `a user exists from the first call with a valid token, sharing off (${r.status} ${r.body})`);
  check(psql(`SELECT count(*) FROM users WHERE id = ${u} AND NOT sharing`) === '1', 'and has a row, sharing off');
}

// ---------------------------------------------------------------- 0. the teeth: consent shows

{
  const [a, b] = await pair();
  await befriend(a.user, b.user);
  check(await seeEachOther(a, b, 'consenting friends'), 'consenting, sharing friends see each other (the tests below have teeth)');
  const f = b.view.get(a.user);
  check(f && Math.abs(f.lat - a.pos.lat) < 1e-6 && f.dist_km < 0.5, `the position shown is the true one (${JSON.stringify(f)})`);
  a.close(); b.close();
}

// ---------------------------------------------------------------- 1-3. requests

{
  const [a, b] = await pair();
  const since = Date.now();
  let r = await call('POST', 0, `/v1/friend-requests/${b.user}`, a.user);
  check(r.status === 202 && r.json?.status === 'requested', `request: 202 requested (${r.body})`);
  await moveFor([a, b], MOVE_MS);
  neverSaw(a, b, since, 'request pending');
  neverSaw(b, a, since, 'request pending');
  r = await call('GET', 1, '/v1/friend-requests', b.user);
  check(r.status === 200 && r.json?.incoming?.length === 1 && r.json.incoming[0].id === a.user &&
        r.json.incoming[0].at > 1700000000000 && r.json.outgoing.length === 0,
    `the request is listed as incoming (${r.body})`);
  // 2. declined
  r = await call('DELETE', 1, `/v1/friend-requests/${a.user}`, b.user);
  check(r.status === 200 && r.json?.changed === true, `decline: 200 changed (${r.body})`);
  r = await call('PUT', 1, `/v1/friend-requests/${a.user}/accept`, b.user);
  check(r.status === 404 && r.json?.error === 'no_request', `accepting a declined request: 404 no_request (${r.body})`);
  const since2 = Date.now();
  await moveFor([a, b], MOVE_MS);
  neverSaw(a, b, since2, 'request declined');
  neverSaw(b, a, since2, 'request declined');
  // 3. cancelled
  await call('POST', 0, `/v1/friend-requests/${b.user}`, a.user);
  r = await call('DELETE', 0, `/v1/friend-requests/${b.user}`, a.user);
  check(r.status === 200 && r.json?.changed === true, `cancel: 200 changed (${r.body})`);
  r = await call('GET', 1, '/v1/friend-requests', b.user);
  check(r.json?.incoming?.length === 0, `a cancelled request is gone (${r.body})`);
  const since3 = Date.now();
  await moveFor([a, b], MOVE_MS);
  neverSaw(a, b, since3, 'request cancelled');
  neverSaw(b, a, since3, 'request cancelled');
  a.close(); b.close();
}

// ---------------------------------------------------------------- 4. unfriend

{
  const [a, b] = await pair();
  await befriend(a.user, b.user);
  await seeEachOther(a, b, 'before unfriend');
  const r = await call('DELETE', 0, `/v1/friends/${a.user}`, b.user); // B's call, on A's gateway
  check(r.status === 200 && r.json?.changed === true, `unfriend: 200 changed (${r.body})`);
  const at = Date.now();
  check(await t.waitFor(() => !a.view.has(b.user) && !b.view.has(a.user), 1000, 'unfriend: gone both ways'), 'unfriend takes effect within 1 s');
  await moveFor([a, b], MOVE_MS);
  neverSaw(a, b, at + 1000, 'after unfriend');
  neverSaw(b, a, at + 1000, 'after unfriend');
  a.close(); b.close();
}

// ---------------------------------------------------------------- 5. block

{
  const [a, b] = await pair();
  await befriend(a.user, b.user);
  await seeEachOther(a, b, 'before block');
  let r = await call('PUT', 1, `/v1/blocks/${b.user}`, a.user);
  check(r.status === 200 && r.json?.changed === true, `block: 200 changed (${r.body})`);
  const at = Date.now();
  check(await t.waitFor(() => !a.view.has(b.user) && !b.view.has(a.user), 1000, 'block: gone both ways'), 'a block takes effect within 1 s');
  r = await call('POST', 1, `/v1/friend-requests/${a.user}`, b.user);
  check(r.status === 202 && r.json?.status === 'requested', `the blocked user's request looks like any other (${r.body})`);
  r = await call('GET', 0, '/v1/friend-requests', a.user);
  check(r.json?.incoming?.length === 0, `and is swallowed: the blocker sees no request (${r.body})`);
  r = await call('PUT', 0, `/v1/friend-requests/${b.user}/accept`, a.user);
  check(r.status === 404, `and cannot be accepted (${r.status})`);
  r = await call('GET', 0, '/v1/blocks', a.user);
  check(r.status === 200 && r.json?.blocks?.includes(b.user), `GET /v1/blocks lists it (${r.body})`);
  await moveFor([a, b], MOVE_MS);
  neverSaw(a, b, at + 1000, 'after block');
  neverSaw(b, a, at + 1000, 'after block');
  a.close(); b.close();
}

// ---------------------------------------------------------------- 6. sharing never switched on

{
  const [c, d] = await pair({ shareA: false });
  await befriend(c.user, d.user);
  const since = Date.now();
  await moveFor([c, d], MOVE_MS);
  neverSaw(d, c, since, 'sharing never switched on');
  check(c.view.has(d.user), 'the friend who shares is seen by the one who does not');
}

// ---------------------------------------------------------------- 7. sharing off, and on again on another gateway

{
  const [e, f] = await pair();
  await befriend(e.user, f.user);
  await seeEachOther(e, f, 'before sharing off');
  // E's phone is on gateway 0; the switch goes through gateway 1.
  let r = await call('PUT', 1, '/v1/sharing/off', e.user);
  check(r.status === 200 && r.json?.sharing === false && r.json?.changed === true, `sharing off: 200 (${r.body})`);
  const at = Date.now();
  check(await t.waitFor(() => !f.view.has(e.user), 1000, 'sharing off: gone'), 'sharing off takes effect within 1 s');
  await moveFor([e, f], MOVE_MS);
  neverSaw(f, e, at + 1000, 'after sharing off');
  check(e.view.has(f.user), 'the other still shares and is seen');
  // On again, through gateway 1 again while E's phone is on gateway 0 and stands still:
  // nothing E sent while off is shown; its next position is, within a second.
  r = await call('PUT', 1, '/v1/sharing/on', e.user);
  check(r.status === 200 && r.json?.sharing === true, `sharing on: 200 (${r.body})`);
  const onAt = Date.now();
  await sleep(700);
  neverSaw(f, e, onAt, 'after sharing on, before the next move (what was taken while off)');
  e.move(48.8567, 2.3523);
  check(await t.waitFor(() => f.view.has(e.user), 1000, 'sharing on reaches the session on the other gateway'),
    'sharing switched on on another gateway shows the next position within 1 s');
  e.close(); f.close();
}

// ---------------------------------------------------------------- 8. token expired, and refreshed

{
  const g = newUser(), h = newUser(), g2 = newUser();
  await shareOn(g); await shareOn(h); await shareOn(g2);
  await befriend(g, h); await befriend(g2, h);
  const expMs = (Math.floor(Date.now() / 1000) + 4) * 1000;
  const pg = await connect(g, 0, 4), ph = await connect(h, 1), pg2 = await connect(g2, 0, 4);
  await seeEachOther(pg, ph, 'before expiry');
  setTimeout(() => pg2.send({ t: 'refresh', token: tok(g2, 60) }), 1000);
  const until = expMs + 1500;
  while (Date.now() < until) { for (const p of [pg, ph, pg2]) if (p.closed === null) wiggle(p); await sleep(250); }
  check(pg.closed === 4001 && pg.errors.some((e) => e.code === 'token_expired'),
    `an expired session is closed with 4001 token_expired (${pg.closed} ${JSON.stringify(pg.errors)})`);
  const last = pg.frames.length ? pg.frames[pg.frames.length - 1].at : 0;
  check(last >= expMs - 1500 && last <= expMs + 1000,
    `it is closed at its exp (last frame ${last - expMs} ms from exp)`);
  check(pg.positionsOf(h, expMs + 500).length === 0, 'nothing reaches it after its token expired');
  check(pg2.closed === null && pg2.view.has(h), 'a session that sent refresh in time goes on');
  const late = new Phone(g, gateways[1], tok(g, -5));
  await late.init();
  await t.waitFor(() => late.closed !== null, 2000, 'an expired token is refused');
  check(late.nearby === null && late.errors.some((e) => e.code === 'bad_token'), 'an expired token gets bad_token and no nearby');
  const other = new Phone(g2, gateways[0], tok(g2));
  await other.init();
  await t.waitFor(() => other.nearby !== null, 3000, 'g2 second session');
  other.send({ t: 'refresh', token: tok(h) });
  await t.waitFor(() => other.closed !== null, 2000, 'a refresh for another user closes');
  check(other.errors.some((e) => e.code === 'bad_token'), 'refresh with another user\'s token: bad_token');
  ph.close(); pg2.close();
}

// ---------------------------------------------------------------- 9. a cached position that raced sharing off

{
  const [x, y] = await pair();
  await befriend(x.user, y.user);
  await seeEachOther(x, y, 'before the race');
  const oldVersion = Number(psql(`SELECT consent_version FROM users WHERE id = ${x.user}`));
  await call('PUT', 0, '/v1/sharing/off', x.user);
  await t.waitFor(() => !y.view.has(x.user), 1000, 'race: gone');
  x.close(); y.close();
  await sleep(300);
  // The SET that lost the race against the DEL: a position stamped with the version before off.
  const value = `48.8566000,2.3522000,${Date.now()},${oldVersion}`;
  let r = await redisCommand(cachePort, ['SET', `loc:${x.user}`, value, 'EX', '600'], admin);
  check(r.startsWith('+OK'), `SET the stale value (${r.trim()})`);
  // Even one claiming a newer version than PostgreSQL's: a made-up version shows nothing.
  const y2 = await connect(y.user, 0);
  check(!y2.view.has(x.user), `a cached position from before sharing off is not in nearby (${JSON.stringify(y2.nearby)})`);
  r = await redisCommand(cachePort, ['SET', `loc:${x.user}`, `48.8566000,2.3522000,${Date.now()},${oldVersion + 50}`, 'EX', '600'], admin);
  const y3 = await connect(y.user, 1);
  check(!y3.view.has(x.user), 'nor one stamped with a version PostgreSQL never made');
  const since = Date.now();
  await moveFor([y2, y3], 1500);
  neverSaw(y2, x, since, 'stale cache');
  neverSaw(y3, x, since, 'stale cache');
  y2.close(); y3.close();
}

// ---------------------------------------------------------------- 10. a forged payload on another user's channel

{
  const [victim, watcher] = await pair();
  await befriend(victim.user, watcher.user);
  await seeEachOther(victim, watcher, 'before the forgery');
  const version = Number(psql(`SELECT consent_version FROM users WHERE id = ${victim.user}`));
  const attacker = newUser();
  // [1, loc, user, seq, lat, lng, ts, consent]: about the victim, published on channels the
  // gateways do hold but that are not the victim's: the attacker's and the watcher's own.
  const forged = Buffer.from(encode([1, 0, victim.user, Number.MAX_SAFE_INTEGER, 48.9, 2.4, Date.now(), version]));
  for (const port of nodePorts)
    for (const ch of [`u:${attacker}`, `u:${watcher.user}`])
      await redisCommand(port, ['PUBLISH', ch, forged], admin).catch(() => {});
  // And one on the victim's own channel with a made-up newer version.
  const forged2 = Buffer.from(encode([1, 0, victim.user, Number.MAX_SAFE_INTEGER - 1, 48.9, 2.4, Date.now(), version + 9]));
  for (const port of nodePorts) await redisCommand(port, ['PUBLISH', `u:${victim.user}`, forged2], admin).catch(() => {});
  await sleep(700);
  const fake = watcher.positionsOf(victim.user).filter(({ m }) => Math.abs(m.lat - 48.9) < 1e-9);
  check(fake.length === 0, `forged positions are never shown (${JSON.stringify(fake[0])})`);
  victim.close(); watcher.close();
}

// ---------------------------------------------------------------- 11. ts from the future

{
  const [a, b] = await pair();
  await befriend(a.user, b.user);
  await seeEachOther(a, b, 'before ts checks');
  a.move(48.857, 2.353, Date.now() + 60000);
  await t.waitFor(() => a.errors.some((e) => e.code === 'bad_value'), 1000, 'a ts 60 s ahead gets bad_value');
  const before = Date.now();
  a.move(48.8571, 2.3531, Date.now() + 10000);
  await t.waitFor(() => b.view.get(a.user)?.lat === 48.8571, 1000, 'a ts 10 s ahead is taken');
  const f = b.view.get(a.user);
  check(f && f.ts <= Date.now() && f.ts >= before - 5, `and clamped to the gateway's clock (${f?.ts} vs now ${Date.now()})`);
  a.close(); b.close();
}

// ---------------------------------------------------------------- 12. history: read and erase one's own

{
  const k = newUser();
  await shareOn(k);
  const pk = await connect(k, 0);
  const sent = [];
  for (let i = 0; i < 3; i++) {
    const lat = 48.8 + i / 100, lng = 2.3 + i / 100;
    pk.move(lat, lng);
    sent.push({ lat, lng });
    await sleep(300);
  }
  await t.waitFor(() => psql(`SELECT count(*) FROM location_history WHERE user_id = ${k}`) === '3', 5000, 'history written');
  let r = await call('GET', 1, '/v1/me/history', k);
  check(r.status === 200 && r.json?.points?.length === 3 &&
        r.json.points.every((p, i) => Math.abs(p.lat - sent[i].lat) < 1e-6 && Math.abs(p.lng - sent[i].lng) < 1e-6) &&
        r.json.next === null, `GET /v1/me/history returns the trail in order (${r.body})`);
  r = await call('GET', 1, '/v1/me/history?limit=2', k);
  check(r.json?.points?.length === 2 && r.json.next === r.json.points[1].ts + 1, `pages of limit points with a next (${r.body})`);
  r = await call('GET', 1, `/v1/me/history?from=${r.json?.next}`, k);
  check(r.json?.points?.length === 1, `the next page has the rest (${r.body})`);
  r = await call('GET', 1, '/v1/me/history?from=5&to=3', k);
  check(r.status === 400, `a reversed range is a bad request (${r.status})`);
  const other = newUser();
  r = await call('GET', 0, '/v1/me/history', other);
  check(r.status === 200 && r.json?.points?.length === 0, 'another user sees none of it');
  r = await call('DELETE', 0, '/v1/me/history', k);
  check(r.status === 202, `DELETE /v1/me/history: 202 (${r.status} ${r.body})`);
  check(psql(`SELECT count(*) FROM location_history WHERE user_id = ${k}`) === '0', 'every row of the user is gone');
  r = await call('GET', 1, '/v1/me/history', k);
  check(r.json?.points?.length === 0, 'and reading it gives nothing');
  pk.close();
}

// ---------------------------------------------------------------- 13. account deletion

{
  const [l, m] = await pair();
  await befriend(l.user, m.user);
  await seeEachOther(l, m, 'before account deletion');
  const n = newUser();
  await call('POST', 0, `/v1/friend-requests/${l.user}`, n);
  await call('PUT', 0, `/v1/blocks/${n}`, l.user);
  await t.waitFor(() => psql(`SELECT count(*) FROM location_history WHERE user_id = ${l.user}`) !== '0', 3000, 'the user has history');
  const r = await call('DELETE', 1, '/v1/me', l.user);
  check(r.status === 202 && r.json?.status === 'deleted', `DELETE /v1/me: 202 (${r.status} ${r.body})`);
  check(await t.waitFor(() => l.closed !== null, 1000, 'the account\'s sessions end'), 'sessions end within 1 s');
  check(l.closed === 4003, `closed with 4003 (${l.closed} ${l.closeReason})`);
  check(await t.waitFor(() => !m.view.has(l.user), 1000, 'a friend of a deleted account sees it gone'), 'gone for friends within 1 s');
  await sleep(300);
  const left = psql(`SELECT (SELECT count(*) FROM users WHERE id = ${l.user}) + (SELECT count(*) FROM friendships WHERE ${l.user} IN (user_id, friend_id)) + (SELECT count(*) FROM friend_requests WHERE ${l.user} IN (from_id, to_id)) + (SELECT count(*) FROM blocks WHERE blocker_id = ${l.user}) + (SELECT count(*) FROM location_history WHERE user_id = ${l.user})`);
  check(left === '0', `nothing of the account is left in PostgreSQL (${left} rows)`);
  const cached = await redisCommand(cachePort, ['EXISTS', `loc:${l.user}`], admin);
  check(cached.startsWith(':0'), `nor its cached position (${cached.trim()})`);
  m.close();
}

// ---------------------------------------------------------------- REST edges

{
  const u = newUser(), v = newUser();
  let r = await call('PUT', 0, `/v1/friends/${v}`, u);
  check(r.status === 405 && /friend-requests/.test(r.body), `PUT /v1/friends/{id} is 405 and points to friend requests (${r.body})`);
  r = await call('POST', 0, `/v1/friend-requests/${u}`, u);
  check(r.status === 400, `asking oneself: 400 (${r.status})`);
  r = await call('POST', 0, `/v1/friend-requests/9223372036854775807`, u);
  check(r.status === 202, `a request to an id nobody has answers like any other (${r.status})`);
  r = await call('POST', 0, '/v1/friend-requests/12abc', u);
  check(r.status === 404, `a malformed id is no endpoint (${r.status})`);
  let statuses = [];
  for (let i = 0; i < 20; i++) statuses.push((await call('POST', i % 2, `/v1/friend-requests/${800000 + i}`, v)).status);
  check(statuses.every((s) => s === 202), `20 requests in a minute are fine (${statuses})`);
  r = await call('POST', 0, `/v1/friend-requests/${800100}`, v);
  check(r.status === 429 && r.json?.error === 'rate_limited', `the 21st within a minute: 429 rate_limited (${r.status} ${r.body})`);
  r = await rest('GET', gateways[0], '/v1/me', 'x.y.z');
  check(r.status === 401, `a forged token: 401 (${r.status})`);
}

process.exit(t.summary('consent e2e'));
