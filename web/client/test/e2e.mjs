// e2e.mjs: the client against a real cluster (test/integration/web-client.sh starts it): friend
// request and acceptance through the REST calls, strangers on and off, sharing on, two users
// moving see each other
// with the right distances, throttled positions never rate limited, unfriend; the stops
// (bad_token, token_expired unless refreshed, account deleted); then the gateway of a session
// is killed and the session comes back on the other one with its friends, never shown empty.
// Exits 1 on any failed check.
//
// node test/e2e.mjs --secret FILE --gateways ws://A/ws,ws://B/ws --lb ws://LB/ws --kill-pid PID

import { NearbyError, connect, distanceKm } from '../nearby.js';
import { makeToken, readSigningKey } from '../../../test/js/token.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const secret = readSigningKey(args.secret);
const gateways = args.gateways.split(',');
const killPid = Number(args['kill-pid']);

let checks = 0, failures = 0;
function check(cond, what) {
  checks++;
  if (!cond) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
  return cond;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(20);
  }
  return check(cond(), `${what} (waited ${ms} ms)`);
}

const token = (user, ttl = 3600, key = secret) => makeToken(key, user, ttl);

// Fresh ids per run: the database starts empty and users appear on first sight.
let nextUser = 810000 + (Date.now() % 1000) * 10;
const newUser = () => nextUser++;

// A client that records its states and events.
function open(user, urls, options = {}) {
  const c = connect(urls, { token: token(user, options.ttl), backoffBaseMs: 200, ...options });
  c.user = user;
  c.states = [];
  c.errors = [];
  c.nearbys = [];
  c.on('state', (s) => c.states.push({ at: Date.now(), ...s, friends: c.friends.size }));
  c.on('error', (e) => c.errors.push(e));
  c.on('nearby', (n) => c.nearbys.push(n));
  return c;
}

const PARIS = { lat: 48.8566, lng: 2.3522 };
const near = (dLat, dLng) => ({ lat: PARIS.lat + dLat, lng: PARIS.lng + dLng });
const t0 = Date.now();
const clients = [];

try {
  // ---------------------------------------------------------------- the stops
  {
    const forged = connect(gateways[0], { token: token(newUser(), 3600, 'not the secret') });
    await waitFor(() => forged.state === 'closed', 5000, 'a forged token closes the client');
    check(forged.reason === 'bad_token', `closed for bad_token, not '${forged.reason}'`);
    await sleep(1500);
    check(forged.state === 'closed' && forged.attempt === 0, 'no reconnect after bad_token');

    const u = newUser();
    const expiring = open(u, gateways[0], { ttl: 2 });
    const refreshed = open(u, gateways[1], { ttl: 2 });
    clients.push(expiring, refreshed);
    await waitFor(() => expiring.state === 'live' && refreshed.state === 'live', 5000, 'short-token sessions live');
    refreshed.refresh(token(u, 3600));
    await waitFor(() => expiring.state === 'closed', 6000, 'a session ends at its token\'s exp');
    check(expiring.reason === 'token_expired', `closed for token_expired, not '${expiring.reason}'`);
    check(refreshed.state === 'live', `a refreshed session outlives the first token (${refreshed.state})`);
    check((await refreshed.me()).id === u, 'REST calls use the refreshed token');

    const gone = open(newUser(), gateways[1]);
    clients.push(gone);
    await waitFor(() => gone.state === 'live', 5000, 'session to delete is live');
    const r = await gone.deleteAccount();
    check(r?.status === 'deleted', `account deleted (${JSON.stringify(r)})`);
    await waitFor(() => gone.state === 'closed', 5000, 'a deleted account\'s session closes');
    check(gone.reason === 'account_deleted', `closed for account_deleted, not '${gone.reason}'`);
  }

  // ---------------------------------------------------------------- strangers
  // Two users who are not friends, 300 m apart in Lyon, strangers on: each sees the other as an
  // anonymous dot (a sid, a coarse position, a rounded distance); off tells both.
  {
    const lyon = { lat: 45.764, lng: 4.8357 };
    const sa = open(newUser(), gateways[0], { strangers: true });
    const sb = open(newUser(), gateways[1], { strangers: true });
    clients.push(sa, sb);
    await waitFor(() => sa.state === 'live' && sb.state === 'live', 5000, 'stranger sessions live');
    const mover = setInterval(() => {
      sa.sendLocation(lyon.lat, lyon.lng);
      sb.sendLocation(lyon.lat + 0.0027, lyon.lng);
    }, 1000);
    sa.sendLocation(lyon.lat, lyon.lng);
    sb.sendLocation(lyon.lat + 0.0027, lyon.lng);
    try {
      await waitFor(() => sa.strangers.size === 1 && sb.strangers.size === 1, 8000, 'strangers see each other');
      const [x] = [...sa.strangers.values()];
      check(x && /^[0-9a-f]{16}$/.test(x.sid) && x.lat !== lyon.lat + 0.0027 && Math.abs(x.distKm - 0.3) <= 0.11,
        `a stranger is a sid, a coarse position and a rounded distance (${JSON.stringify(x)})`);
      const goneAt = [];
      sb.on('stranger_gone', () => goneAt.push(Date.now()));
      const t1 = Date.now();
      sa.setStrangers(false);
      await waitFor(() => sb.strangers.size === 0 && sa.strangers.size === 0, 1500, 'off: both lists empty');
      check(goneAt.length === 1 && goneAt[0] - t1 < 1000, 'the other is told within a second');
    } finally {
      clearInterval(mover);
    }
  }

  // ---------------------------------------------------------------- friends
  const ua = newUser(), ub = newUser();
  const a = open(ua, gateways);                 // gw1 first
  const b = open(ub, [gateways[1], gateways[0]]); // gw2 first
  clients.push(a, b);
  await waitFor(() => a.state === 'live' && b.state === 'live', 5000, 'both sessions live');
  check(a.nearbys[0]?.friends.length === 0, 'a stranger has nobody nearby');

  try {
    await a.sendFriendRequest(ua);
    check(false, 'a request to oneself is refused');
  } catch (e) {
    check(e instanceof NearbyError && e.status === 400 && e.code === 'bad_value', `self request: ${e}`);
  }
  let r = await a.sendFriendRequest(ub);
  check(r?.status === 'requested', `request sent (${JSON.stringify(r)})`);
  const incoming = await b.listFriendRequests();
  check(incoming.incoming.some((q) => Number(q.id) === ua), `b sees a's request (${JSON.stringify(incoming)})`);
  const outgoing = await a.listFriendRequests();
  check(outgoing.outgoing.some((q) => Number(q.id) === ub), 'a sees its own request');

  // Not friends yet, and not sharing: neither sees the other, however close.
  const pa = near(0, 0), pb = near(0.004, 0.003);
  a.sendLocation(pa.lat, pa.lng);
  b.sendLocation(pb.lat, pb.lng);
  await sleep(1200);
  check(!a.friends.has(ub) && !b.friends.has(ua), 'nobody is shown before consent');

  r = await b.acceptFriendRequest(ua);
  check(r?.status === 'friends', `accepted (${JSON.stringify(r)})`);
  check((await a.listFriends()).friends.map(Number).includes(ub), 'a lists b as a friend');
  await a.setSharing(true);
  await b.setSharing(true);
  check((await b.me()).sharing === true, 'b shares');

  // Each moves a little every second; each sees the other at the true distance.
  let step = 0, paused = false, aStill = false;
  const mover = setInterval(() => {
    if (paused) return;
    step++;
    if (!aStill) a.sendLocation(pa.lat + 0.0001 * Math.sin(step), pa.lng);
    b.sendLocation(pb.lat, pb.lng + 0.0001 * Math.cos(step));
  }, 1000);
  try {
    await waitFor(() => a.friends.has(ub) && b.friends.has(ua), 5000, 'friends who share see each other');
    await sleep(2500);
    // A friend's distance is measured from where the gateway last had the phone: a stands
    // still (its last position taken) and the check reads the next frame of b after that.
    aStill = true;
    await sleep(1500);
    const prev = a.friends.get(ub);
    await waitFor(() => a.friends.get(ub) !== prev, 3000, 'a hears b move while a stands still');
    aStill = false;
    const fa = a.friends.get(ub), fb = b.friends.get(ua);
    if (check(fa && fb, 'both still see each other')) {
      const truth = distanceKm(a.position.lat, a.position.lng, b.position.lat, b.position.lng);
      const shownA = distanceKm(a.position.lat, a.position.lng, fa.lat, fa.lng);
      check(Math.abs(fa.distKm - shownA) < 0.001, `gateway's distance ${fa.distKm} matches the position shown ${shownA}`);
      check(Math.abs(fa.distKm - truth) < 0.05, `a sees b at ${fa.distKm} km, truly ${truth}`);
      check(Math.abs(fb.distKm - truth) < 0.05, `b sees a at ${fb.distKm} km, truly ${truth}`);
    }
    // Positions sent faster than the gateways take them are thinned out by the client, and
    // the latest one is the one that goes out.
    paused = true;
    const last = { lat: pa.lat + 19 * 1e-5, lng: pa.lng };
    for (let i = 0; i < 20; i++) a.sendLocation(pa.lat + i * 1e-5, pa.lng);
    await waitFor(() => {
      const f = b.friends.get(ua);
      return f && f.lat === last.lat && f.lng === last.lng;
    }, 3000, 'b is shown the last of a burst of positions');
    check(!a.errors.some((e) => e.code === 'rate_limited'), `no rate_limited (${JSON.stringify(a.errors)})`);
    paused = false;

    // ------------------------------------------------------------ the gateway dies
    const before = a.states.length;
    process.kill(killPid, 'SIGKILL');
    await waitFor(() => a.states.slice(before).some((s) => s.state === 'waiting'), 5000, 'a notices its gateway died');
    const waiting = a.states.slice(before).find((s) => s.state === 'waiting');
    check(waiting && waiting.friends === 1 && a.friends.has(ub), 'friends are kept while reconnecting');
    check(waiting && waiting.delayMs >= 0 && waiting.delayMs < 200, `first wait within the backoff cap (${waiting?.delayMs} ms)`);
    const reconnected = await waitFor(() => a.state === 'live' && a.nearbys.length >= 2, 15000, 'a is live again');
    if (reconnected) {
      const last = a.nearbys[a.nearbys.length - 1];
      check(last.reconnect === true, 'the second nearby list is a reconnect\'s');
      check(a.states.at(-1).url === gateways[1], `a is now on the other gateway (${a.states.at(-1).url})`);
      await waitFor(() => a.friends.has(ub), 5000, 'b is back in a\'s list after the reconnect');
      check(a.states.slice(before).every((s) => s.friends > 0), 'a\'s list was never empty meanwhile');
    }
    await waitFor(() => b.friends.has(ua), 8000, 'b sees a again once a is back');

    // ------------------------------------------------------------ unfriend, after all that
    await a.unfriend(ub);
    await waitFor(() => !a.friends.has(ub) && !b.friends.has(ua), 3000, 'unfriended users vanish from both lists');
  } finally {
    clearInterval(mover);
  }

  // Through the load balancer too: over TLS when --lb is wss:// (node trusts the cluster's
  // CA through NODE_EXTRA_CA_CERTS), the WebSocket and the REST calls alike.
  if (args.lb) {
    const u = newUser();
    const c = open(u, args.lb);
    clients.push(c);
    await waitFor(() => c.state === 'live', 5000, `a session through HAProxy (${args.lb}) is live`);
    check((await c.me()).id === u, `REST through HAProxy (${c.restBase()}) answers for the user`);
  }
} catch (e) {
  check(false, `unexpected: ${e?.stack || e}`);
} finally {
  for (const c of clients) c.close();
}

console.log(`client e2e: ${checks - failures} passed, ${failures} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failures ? 1 : 0);
