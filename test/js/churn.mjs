// churn.mjs: a property test of consent under churn. USERS users on two real gateways move
// inside each other's radius for DURATION seconds while a driver makes random friend requests,
// accepts, declines, unfriends, blocks, unblocks, sharing toggles and reconnects. An independent
// checker, which knows the consent state over time from the REST answers alone, then asserts that
// no frame ever showed a position its receiver was not entitled to at that moment: X's position
// at Y needs X and Y friends by consent and X sharing, at some instant of the last second (a change
// has 1 s to take effect), and the position itself taken while X shared, in the sharing period
// that was still running then. Exits 1 on any violation.
import { Checker, Phone, makeToken, parseArgs, readSecret, rest, sleep } from './lib.mjs';

const args = parseArgs(process.argv);
const secret = readSecret(args.secret);
const gateways = args.gateways.split(',');
const USERS = Number(args.users || 200);
const DURATION_MS = Number(args.duration || 60) * 1000;
const SLACK_MS = 1000;
const BASE = Number(args['first-user'] || 900000);
const t = new Checker();
let seed = Number(args.seed || 4242);
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (n) => Math.floor(rnd() * n);

// ---------------------------------------------------------------- what consent was, when

// Each consent fact (a pair's friendship, a user's sharing) is a list of transitions
// {on, sent, done}: the change took effect somewhere in [sent, done] at the database, and
// gateways have SLACK_MS after done to apply it.
const friendship = new Map(); // "a,b" with a < b -> transitions
const sharing = new Map();    // user -> transitions
const key = (a, b) => (a < b ? `${a},${b}` : `${b},${a}`);
function record(map, k, on, sent, done) {
  if (!map.has(k)) map.set(k, []);
  map.get(k).push({ on, sent, done });
}

// The intervals in which a fact may have held: from the earliest instant an on could have
// taken effect (sent) to the latest an off may still be applying (done + SLACK_MS).
function intervals(list) {
  const out = [];
  let start = null;
  for (const e of list || []) {
    if (e.on && start === null) start = e.sent;
    else if (!e.on && start !== null) { out.push([start, e.done + SLACK_MS]); start = null; }
  }
  if (start !== null) out.push([start, Infinity]);
  return out;
}
const heldAt = (list, t0) => intervals(list).some(([a, b]) => a <= t0 && t0 < b);
const heldWithin = (list, from, to) => intervals(list).some(([a, b]) => a <= to && from < b);

// Why user `to` may not be shown `from`'s position taken at ts, received at at; null when fine.
function violation(from, to, ts, at) {
  if (from === to) return 'shown its own position';
  if (!heldWithin(friendship.get(key(from, to)), at - SLACK_MS, at)) return 'not friends by consent then';
  const shares = sharing.get(from);
  if (!heldWithin(shares, at - SLACK_MS, at)) return 'not sharing then';
  // The position was taken while sharing, in a sharing period still running at delivery.
  const period = intervals(shares).find(([a, b]) => a <= ts + SLACK_MS && ts < b);
  if (!period) return 'the position was taken while not sharing';
  if (period[1] <= at - SLACK_MS) return 'the position was taken before a sharing off';
  return null;
}

// ---------------------------------------------------------------- the model the driver acts on

const users = Array.from({ length: USERS }, (_, i) => BASE + i);
const friends = new Set(), pending = new Set(), blocks = new Set(), sharingOn = new Set();
const phones = new Map(); // user -> current Phone
const oldPhones = [];
const tok = (u) => makeToken(secret, u);
const gwOf = (u) => gateways[u % gateways.length];
const counts = {};
const count = (what) => { counts[what] = (counts[what] || 0) + 1; };

async function call(method, u, path) {
  return rest(method, gateways[pick(gateways.length)], path, tok(u));
}

async function setSharing(u, on) {
  const sent = Date.now();
  const r = await call('PUT', u, `/v1/sharing/${on ? 'on' : 'off'}`);
  if (r.status !== 200) { t.check(false, `sharing ${on} for ${u}: ${r.status} ${r.body}`); return; }
  record(sharing, u, on, sent, Date.now());
  if (on) sharingOn.add(u); else sharingOn.delete(u);
  count(on ? 'sharing_on' : 'sharing_off');
}

function befriended(a, b, sent) {
  friends.add(key(a, b));
  pending.delete(`${a}>${b}`); pending.delete(`${b}>${a}`);
  record(friendship, key(a, b), true, sent, Date.now());
}
function unfriended(a, b, sent) {
  if (friends.delete(key(a, b))) record(friendship, key(a, b), false, sent, Date.now());
}

const actions = [
  async function request() {
    const a = users[pick(USERS)], b = users[pick(USERS)];
    if (a === b || friends.has(key(a, b))) return;
    const sent = Date.now();
    const r = await call('POST', a, `/v1/friend-requests/${b}`);
    if (r.status === 200 && r.json?.status === 'friends') { befriended(a, b, sent); count('request_crossed'); }
    else if (r.status === 202) { if (!blocks.has(`${a}>${b}`)) pending.add(`${a}>${b}`); count('request'); }
    else if (r.status === 429 || r.status === 409) count('request_refused');
    else t.check(false, `request ${a}->${b}: ${r.status} ${r.body}`);
  },
  async function accept() {
    const list = [...pending];
    if (!list.length) return;
    const [a, b] = list[pick(list.length)].split('>').map(Number);
    const sent = Date.now();
    const r = await call('PUT', b, `/v1/friend-requests/${a}/accept`);
    if (r.status === 200) { befriended(a, b, sent); count('accept'); }
    else if (r.status === 404) { pending.delete(`${a}>${b}`); count('accept_gone'); }
    else if (r.status !== 409) t.check(false, `accept ${b}<-${a}: ${r.status} ${r.body}`);
  },
  async function decline() {
    const list = [...pending];
    if (!list.length) return;
    const [a, b] = list[pick(list.length)].split('>').map(Number);
    const r = await call('DELETE', rnd() < 0.5 ? a : b, `/v1/friend-requests/${rnd() < 0.5 ? b : a}`);
    if (r.status === 200) { pending.delete(`${a}>${b}`); count('decline'); }
  },
  async function unfriend() {
    const list = [...friends];
    if (!list.length) return;
    const [a, b] = list[pick(list.length)].split(',').map(Number);
    const sent = Date.now();
    const r = await call('DELETE', a, `/v1/friends/${b}`);
    if (r.status === 200) { unfriended(a, b, sent); count('unfriend'); }
    else t.check(false, `unfriend ${a}/${b}: ${r.status} ${r.body}`);
  },
  async function block() {
    const a = users[pick(USERS)], b = users[pick(USERS)];
    if (a === b) return;
    const sent = Date.now();
    const r = await call('PUT', a, `/v1/blocks/${b}`);
    if (r.status !== 200) { t.check(false, `block ${a}/${b}: ${r.status} ${r.body}`); return; }
    blocks.add(`${a}>${b}`);
    pending.delete(`${a}>${b}`); pending.delete(`${b}>${a}`);
    unfriended(a, b, sent);
    count('block');
  },
  async function unblock() {
    const list = [...blocks];
    if (!list.length) return;
    const [a, b] = list[pick(list.length)].split('>').map(Number);
    const r = await call('DELETE', a, `/v1/blocks/${b}`);
    if (r.status === 200) { blocks.delete(`${a}>${b}`); pending.delete(`${b}>${a}`); count('unblock'); }
  },
  async function toggleSharing() {
    const u = users[pick(USERS)];
    await setSharing(u, !sharingOn.has(u));
  },
  async function reconnect() {
    const u = users[pick(USERS)];
    const old = phones.get(u);
    if (old) { old.close(); oldPhones.push(old); }
    const p = new Phone(u, gwOf(u + pick(2)), tok(u));
    phones.set(u, p);
    p.init().catch(() => {});
    count('reconnect');
  },
];
// How often each action is drawn: friendships form faster than they end, so there is
// something to see.
const weights = [5, 5, 1, 2, 1, 1, 3, 2];

// ---------------------------------------------------------------- the run

// A 3 km box: everyone is within everyone's radius (8.047 km).
const spot = () => ({ lat: 48.85 + rnd() * 0.02, lng: 2.33 + rnd() * 0.03 });
const sent = new Map(); // user -> [{ts}] positions sent
for (const u of users) if (rnd() < 0.6) await setSharing(u, true);
for (const u of users) {
  const p = new Phone(u, gwOf(u), tok(u));
  phones.set(u, p);
  await p.init();
}
await t.waitFor(() => [...phones.values()].every((p) => p.nearby !== null), 15000, 'every phone got nearby');

const start = Date.now();
let moving = true;
const mover = (async () => {
  while (moving) {
    for (const [u, p] of phones) {
      if (p.closed !== null || p.nearby === null) continue;
      const s = spot(), ts = Date.now();
      p.move(s.lat, s.lng, ts);
      if (!sent.has(u)) sent.set(u, []);
      sent.get(u).push(ts);
    }
    await sleep(1000);
  }
})();
const total = weights.reduce((a, b) => a + b, 0);
while (Date.now() - start < DURATION_MS) {
  let r = rnd() * total, i = 0;
  while (r >= weights[i]) r -= weights[i++];
  await actions[i]();
  await sleep(50);
}
moving = false;
await mover;
await sleep(1500); // what was in flight arrives

// ---------------------------------------------------------------- the check

function checkAll(all) {
  let shown = 0;
  const bad = [];
  for (const p of all) {
    for (const { at, m } of p.frames) {
      const list = m.t === 'nearby' ? m.friends : m.t === 'friend' ? [m] : [];
      for (const f of list) {
        shown++;
        const why = violation(Number(f.id), p.user, Number(f.ts), at);
        if (why) bad.push(`${p.user} shown ${f.id} (ts ${f.ts}, at ${at}): ${why}`);
      }
    }
  }
  return { shown, bad };
}

const all = [...oldPhones, ...phones.values()];
// The checker has teeth: a made-up frame between two users who were never friends is caught.
const strangers = users.filter((u) => !friendship.has(key(users[0], u)) && u !== users[0]);
const fake = { user: users[0], frames: [{ at: Date.now(), m: { t: 'friend', id: strangers[0], ts: Date.now() } }] };
t.check(checkAll([fake]).bad.length === 1, 'the checker flags a frame between users who were never friends');

const { shown, bad } = checkAll(all);
for (const b of bad.slice(0, 20)) console.error(`  violation: ${b}`);
t.check(bad.length === 0, `no frame showed a position without consent (${bad.length} of ${shown} did)`);
t.check(shown > 1000, `positions were shown at all (${shown}): the property is not vacuous`);
const seenAfterOn = all.some((p) => p.frames.some(({ m }) => m.t === 'friend'));
t.check(seenAfterOn, 'friend frames arrived live, not only in nearby');
const errs = all.flatMap((p) => p.errors.filter((e) => e.code !== 'rate_limited'));
t.check(errs.length === 0, `no err frames (${JSON.stringify(errs.slice(0, 3))})`);
console.log(`churn: ${USERS} users, ${(DURATION_MS / 1000).toFixed(0)} s, actions ${JSON.stringify(counts)}, ` +
            `${shown} positions shown, ${bad.length} violations`);
for (const p of all) p.close();
process.exit(t.summary('churn'));
