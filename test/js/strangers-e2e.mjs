// strangers-e2e.mjs: strangers end to end on two real gateways (README "Strangers"): two
// opted-in non-friends near each other see each other as anonymous, coarse strangers; one far
// away sees neither; friends see each other only as friends; a block hides; off and disconnect
// are stranger_gone within a second, silence at the TTL, a subscriber cut is caught up; a phone walking across several cell borders never loses
// a stranger standing still in range; and no frame to any phone ever carries the user id of
// anyone but a friend. Each case has a place of its own, tens of km from the others, so what a
// phone sees comes from its own case only. Exits 1 on any failed check.
import {
  Checker, Phone, haversine, makeToken, parseArgs, readSecret, redisCommand, rest, sleep,
} from './lib.mjs';

const args = parseArgs(process.argv);
const secret = readSecret(args.secret);
const gateways = args.gateways.split(',');
const RANGE_KM = Number(args['range-km'] ?? 2);
const t = new Checker();
const check = t.check.bind(t);

// Ids no other number in a frame comes near (ts are ~1.7e12, distances and degrees small).
const BASE = 900000000 + (Date.now() % 1000) * 1000;
let nextUser = BASE;
const newUser = () => ++nextUser;
const tok = (user) => makeToken(secret, user);
const call = (method, gw, path, user) => rest(method, gateways[gw], path, tok(user));
const phones = [];            // every phone of the run, for the privacy check
const friendsOf = new Map();  // user -> Set of friends

async function connect(user, gw) {
  const p = new Phone(user, gateways[gw], tok(user));
  phones.push(p);
  await p.init();
  await t.waitFor(() => p.nearby !== null || p.closed !== null, 8000, `user ${user} got nearby`);
  return p;
}

const on = (p) => p.send({ t: 'strangers', on: true });
const off = (p) => p.send({ t: 'strangers', on: false });
const strangerFrames = (p, since = 0) => p.frames.filter(({ at, m }) => at >= since && m.t === 'stranger');
const gones = (p, since = 0) => p.frames.filter(({ at, m }) => at >= since && m.t === 'stranger_gone');

// Keeps phones at their places (each resends its position every 300 ms) while fn runs.
async function holding(list, fn) {
  let run = true;
  const loop = (async () => {
    while (run) {
      for (const p of list) if (p.closed === null && p.pos) p.move(p.pos.lat, p.pos.lng);
      await sleep(300);
    }
  })();
  try { return await fn(); } finally { run = false; await loop; }
}

async function befriend(a, b) {
  let r = await call('POST', 0, `/v1/friend-requests/${b}`, a);
  check(r.status === 202, `request ${a} -> ${b}: 202 (${r.status} ${r.body})`);
  r = await call('PUT', 1, `/v1/friend-requests/${a}/accept`, b);
  check(r.status === 200, `accept ${b} <- ${a}: 200 (${r.status} ${r.body})`);
  for (const [x, y] of [[a, b], [b, a]]) {
    if (!friendsOf.has(x)) friendsOf.set(x, new Set());
    friendsOf.get(x).add(y);
  }
}

// A phone at (lat, lng) with strangers on, on gateway gw.
async function stranger(lat, lng, gw) {
  const p = await connect(newUser(), gw);
  p.move(lat, lng);
  on(p);
  return p;
}

// 1. Two non-friends 300 m apart on different gateways see each other; a third 60 km away
// sees neither and neither sees it.
async function caseNearAndFar() {
  const a = await stranger(48.8566, 2.3522, 0);
  const b = await stranger(48.8593, 2.3522, 1);
  const c = await stranger(49.4, 2.3522, 0);
  await holding([a, b, c], async () => {
    await t.waitFor(() => a.strangers.size === 1 && b.strangers.size === 1, 8000,
      'two strangers 300 m apart see each other');
    await sleep(1000);
  });
  const [sa] = [...b.strangers.values()];
  const [sb] = [...a.strangers.values()];
  if (!sa || !sb) return;
  for (const [s, who, viewer] of [[sb, b, a], [sa, a, b]]) {
    check(typeof s.sid === 'string' && /^[0-9a-f]{16}$/.test(s.sid), `sid ${s.sid} is 16 hex digits`);
    const n = BigInt(`0x${s.sid}`);
    check(n !== BigInt(a.user) && n !== BigInt(b.user) && !s.sid.includes(String(who.user)),
      `sid ${s.sid} is neither user id`);
    check(s.lat !== who.pos.lat || s.lng !== who.pos.lng, 'coordinates are not the true ones');
    const off_m = haversine(s.lat, s.lng, who.pos.lat, who.pos.lng) * 1000;
    check(off_m < 120, `coarse position within a ~150 m cell of the true one (${off_m.toFixed(0)} m)`);
    const d = haversine(viewer.pos.lat, viewer.pos.lng, s.lat, s.lng);
    check(Math.abs(s.dist_km - Math.round(d * 10) / 10) < 0.051 && Math.round(s.dist_km * 10) === s.dist_km * 10,
      `distance ${s.dist_km} is the distance to the coarse position (${d.toFixed(3)}) rounded to 0.1`);
  }
  check(a.strangers.size === 1 && b.strangers.size === 1, 'the far one is seen by neither');
  check(strangerFrames(c).length === 0, `the phone 60 km away sees nobody (${strangerFrames(c).length} frames)`);
  check(sa.sid !== sb.sid, 'each session its own sid');
  // A new session gets a new sid.
  b.close();
  await t.waitFor(() => a.strangers.size === 0, 1500, 'disconnect: stranger_gone within a second');
  const b2 = await connect(b.user, 1);
  b2.move(b.pos.lat, b.pos.lng);
  on(b2);
  await holding([a, b2], () => t.waitFor(() => a.strangers.size === 1, 8000, 'reconnected stranger seen again'));
  const [again] = [...a.strangers.values()];
  check(again && again.sid !== sb.sid, 'a new session shows a new sid');
  // Off: gone at the others within a second, and it sees nobody any more.
  const offAt = Date.now();
  off(b2);
  await t.waitFor(() => a.strangers.size === 0, 1000, 'off: stranger_gone within a second');
  await t.waitFor(() => b2.strangers.size === 0, 1000, 'off: the phone itself is told each is gone');
  await holding([a, b2], () => sleep(1500));
  check(strangerFrames(a, offAt + 300).length === 0 && strangerFrames(b2, offAt + 300).length === 0,
    'after off neither sees the other');
  for (const p of [a, b2, c]) p.close();
}

// 2. Two friends, both sharing and opted in, 300 m apart: friends only, never strangers.
async function caseFriends() {
  const d = newUser(), e = newUser();
  await befriend(d, e);
  for (const u of [d, e]) {
    const r = await call('PUT', 0, '/v1/sharing/on', u);
    check(r.status === 200, `sharing on for ${u}`);
  }
  const pd = await connect(d, 0), pe = await connect(e, 1);
  pd.move(49.8, 2.3522);
  pe.move(49.8027, 2.3522);
  on(pd); on(pe);
  await holding([pd, pe], async () => {
    await t.waitFor(() => pd.view.has(e) && pe.view.has(d), 8000, 'friends see each other as friends');
    await sleep(2500);
  });
  check(strangerFrames(pd).length === 0 && strangerFrames(pe).length === 0,
    `friends never see each other as strangers (${strangerFrames(pd).length}, ${strangerFrames(pe).length})`);
  // A friend who does not share with the other is not a stranger either.
  const f = newUser();
  await befriend(d, f);
  const pf = await connect(f, 1);
  pf.move(49.8010, 2.3522);
  on(pf);
  const since = Date.now();
  await holding([pd, pe, pf], () => sleep(2500));
  check(strangerFrames(pd, since).length === 0, 'a friend not sharing is not shown as a stranger');
  // f and e are not friends: they see each other as strangers (the rules are per pair), and
  // f sees only e: one sid.
  check(pe.strangers.size === 1 && pf.strangers.size === 1, 'the non-friends among them do');
  check(new Set(strangerFrames(pf, since).map(({ m }) => m.sid)).size === 1,
    'the friend not sharing sees one stranger (not its friend)');
  for (const p of [pd, pe, pf]) p.close();
}

// 3. A block hides, whichever side blocked: seen first, then gone within a second, then never.
async function caseBlock() {
  const g = await stranger(50.3, 2.3522, 0);
  const h = await stranger(50.3027, 2.3522, 1);
  await holding([g, h], () => t.waitFor(() => g.strangers.size === 1 && h.strangers.size === 1, 8000,
    'before the block: seen'));
  const r = await call('PUT', 0, `/v1/blocks/${h.user}`, g.user);
  check(r.status === 200, `block: 200 (${r.status} ${r.body})`);
  const at = Date.now();
  await holding([g, h], async () => {
    await t.waitFor(() => g.strangers.size === 0 && h.strangers.size === 0, 1500,
      'block: both get stranger_gone within a second');
    await sleep(2000);
  });
  check(strangerFrames(g, at + 500).length === 0 && strangerFrames(h, at + 500).length === 0,
    'after the block neither sees the other');
  // A block made before either opts in (read from PostgreSQL) hides as well.
  g.close(); h.close();
  const g2 = await connect(g.user, 1), h2 = await connect(h.user, 0);
  g2.move(50.3, 2.3522);
  h2.move(50.3027, 2.3522);
  on(g2); on(h2);
  // A third, blocked by nobody, is seen by both: the views are up, the block is what hides.
  const k = await stranger(50.3013, 2.3522, 0);
  await holding([g2, h2, k], () => t.waitFor(() => g2.strangers.size === 1 && h2.strangers.size === 1 &&
    k.strangers.size === 2, 8000, 'after the block: both see the third, the third sees both'));
  await holding([g2, h2, k], () => sleep(1500));
  for (const p of [g2, h2])
    check(new Set(strangerFrames(p).map(({ m }) => m.sid)).size === 1,
      `a block read at opt-in hides both ways (${p.user} saw only the third)`);
  g2.close(); h2.close(); k.close();
}

// 4. The border walk: S stands 50 m east of a cell border; W walks a straight line east over
// 14 km, crossing several borders of the 4.9 km cells. While W is in range of S, S is shown
// and never stranger_gone.
async function caseBorderWalk() {
  const lat = 47.2;
  const cellW = 360 / 8192;                       // precision 5: 8192 columns
  const border = Math.ceil((2.35 + 180) / cellW) * cellW - 180;
  const s = await stranger(lat, border + 0.00066, 1);   // ~50 m east of the border
  const w = await connect(newUser(), 0);
  const kmPerDeg = 111.195 * Math.cos(lat * Math.PI / 180);
  const startLng = border - 7 / kmPerDeg;
  w.move(lat, startLng);
  on(w);
  const track = [];             // {at, lng} of W
  let sCoarse = null;
  const inRange = (lng) => sCoarse && haversine(lat, lng, sCoarse.lat, sCoarse.lng) <= RANGE_KM - 0.15;
  await holding([s], async () => {
    await sleep(800);
    for (let i = 0; i <= 140; i++) {
      const lng = startLng + (i * 0.1) / kmPerDeg;  // 100 m a step, 14 km in all
      w.move(lat, lng);
      track.push({ at: Date.now(), lng });
      const shown = [...w.strangers.values()][0];
      if (shown) sCoarse = shown;
      if (inRange(lng) && Math.abs(lng - border) < 1 / kmPerDeg)
        check(w.strangers.size === 1, `walk step ${i}: S within 1 km is shown`);
      await sleep(120);
    }
  });
  check(sCoarse !== null, 'the walker saw the stranger at all');
  const crossed = Math.floor((track.at(-1).lng + 180) / cellW) - Math.floor((track[0].lng + 180) / cellW);
  check(crossed >= 2, `the walk crossed ${crossed} cell borders`);
  console.log(`border walk: ${crossed} cell borders crossed, ${strangerFrames(w).length} stranger frames, ` +
    `${gones(w).length} stranger_gone (all out of range)`);
  const where = (at) => { let pos = track[0]; for (const x of track) if (x.at <= at) pos = x; return pos; };
  for (const { at } of gones(w)) {
    const pos = where(at);
    check(!inRange(pos.lng), `stranger_gone only out of range (at ${haversine(lat, pos.lng, sCoarse.lat, sCoarse.lng).toFixed(2)} km)`);
  }
  check(gones(w).length >= 1, 'the walker saw S go once out of range');
  s.close(); w.close();
}

// 5. Silence: a stranger that stops sending (still connected) goes at the location TTL.
async function caseSilence() {
  const ttlS = Number(args['ttl-s'] ?? 6);
  const x = await stranger(51.0, 2.3522, 0);
  const y = await stranger(51.0027, 2.3522, 1);
  await holding([x, y], () => t.waitFor(() => x.strangers.size === 1, 8000, 'silence: seen first'));
  const last = Date.now();
  await holding([x], () => t.waitFor(() => x.strangers.size === 0, (ttlS + 4) * 1000,
    `silence: stranger_gone by the TTL of ${ttlS} s`));
  const after = (Date.now() - last) / 1000;
  check(after >= ttlS - 1, `silence: not gone before the TTL (${after.toFixed(1)} s)`);
  x.close(); y.close();
}

// 6. A cut: every gateway's subscriber connections are killed (CLIENT KILL TYPE pubsub) and the
// stranger moves once at that moment, then keeps still. What was published while the cell
// channels were cut off comes back when they are subscribed again (stranger_ask): the viewer
// ends up showing the stranger's last position without its sending again.
async function caseCut() {
  if (!args['node-ports']) return;
  const admin = { user: 'admin', passwordFile: args['redis-admin-password-file'] };
  const x = await stranger(51.5, 2.3522, 0);
  const y = await stranger(51.5027, 2.3522, 1);
  await holding([x, y], () => t.waitFor(() => x.strangers.size === 1, 8000, 'cut: seen first'));
  for (const port of args['node-ports'].split(',')) {
    await redisCommand(Number(port), ['CLIENT', 'KILL', 'TYPE', 'pubsub'], admin);
  }
  y.move(51.5090, 2.3522); // 700 m north of where it was: another coarse cell
  const want = haversine(51.5, 2.3522, 51.5090, 2.3522);
  await t.waitFor(() => {
    const [s] = [...x.strangers.values()];
    return s && Math.abs(haversine(51.5, 2.3522, s.lat, s.lng) - want) < 0.12;
  }, 8000, 'cut: the position sent while the cell channels were cut off is shown');
  x.close(); y.close();
}

// 7. No frame to any phone carries the id of a user who is not its friend.
function privacyCheck() {
  const ids = new Set(phones.map((p) => p.user));
  let frames = 0;
  const visit = (v, found) => {
    if (typeof v === 'number' || typeof v === 'bigint') { if (ids.has(Number(v))) found.push(Number(v)); }
    else if (typeof v === 'string') { for (const id of ids) if (v.includes(String(id)) || v.includes(id.toString(16))) found.push(id); }
    else if (Array.isArray(v)) v.forEach((x) => visit(x, found));
    else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => { visit(k, found); visit(x, found); });
  };
  for (const p of phones) {
    for (const { m } of p.frames) {
      frames++;
      const found = [];
      visit(m, found);
      for (const id of found)
        check(friendsOf.get(p.user)?.has(id), `frame ${m.t} to ${p.user} names ${id}, not a friend`);
    }
  }
  check(frames > 100, `privacy check read ${frames} frames`);
}

try {
  await caseNearAndFar();
  await caseFriends();
  await caseBlock();
  await caseBorderWalk();
  await caseSilence();
  await caseCut();
  privacyCheck();
} catch (e) {
  check(false, `exception: ${e.stack}`);
}
for (const p of phones) p.close();
process.exit(t.summary('strangers-e2e'));
