// browser.mjs: the live map and the admin page in a real browser (Debian's chromium, driven by
// puppeteer-core) against a real cluster (test/integration/web-browser.sh starts it).
//
// The map, for a user with two sharing friends moving inside the radius: the side list shows
// both with distances within 10 m of the true ones, and the numbers change as they move; one
// stops sharing and leaves the list within 2 s; a friend request accepted in the page brings
// the new friend in; the user shares from the page's switch and is dragged, and a friend sees
// the new position. No request leaves the gateway's origin, and nothing is logged as an error.
// The admin page: `ringctl add` shows the new node joining, then active. Screenshots of both go
// to --out. Exits 1 on any failed check.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import puppeteer from 'puppeteer-core';

import { connect, distanceKm } from '../client/nearby.js';
import { makeToken, readSigningKey } from '../../test/js/token.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const signingKey = readSigningKey(args.secret);
const run = promisify(execFile);
mkdirSync(args.out, { recursive: true });

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
// Polls cond (async allowed) until it is truthy or ms pass; returns its value and the time taken.
async function waitFor(cond, ms, what) {
  const t = Date.now();
  let v;
  while (!(v = await cond()) && Date.now() - t < ms) await sleep(50);
  check(v, `${what} (waited ${Date.now() - t} ms)`);
  return { value: v, ms: Date.now() - t };
}
function note(what) {
  console.log(`browser: ${what}`);
}

const token = (user, ttl = 3600) => makeToken(signingKey, user, ttl);

// Fresh ids: users exist from their first token.
let nextUser = 920000 + (Date.now() % 1000) * 10;
const ME = { id: nextUser++, lat: 52.5200, lng: 13.4050 }; // Berlin
const phones = [];

function phone(id) {
  const c = connect(args.ws, { token: token(id) });
  c.id = id;
  c.seen = new Map();
  c.on('friend', (f) => c.seen.set(f.id, f));
  c.on('nearby', (n) => { for (const f of n.friends) c.seen.set(f.id, f); });
  c.on('gone', ({ id: g }) => c.seen.delete(g));
  phones.push(c);
  return c;
}

// A friend walks around ME at between 0.7 and 1.3 times r km, a step every 1.1 s while moving.
function walker(c, rKm, phase) {
  let step = 0;
  c.moving = true;
  c.place = () => {
    const a = phase + step * 0.2, d = rKm * (1 + 0.3 * Math.sin(phase + step * 0.5));
    const lat = ME.lat + (d * Math.sin(a)) / 111.19508;
    const lng = ME.lng + (d * Math.cos(a)) / (111.19508 * Math.cos((ME.lat * Math.PI) / 180));
    c.sendLocation(lat, lng);
  };
  c.place();
  c.timer = setInterval(() => { if (c.moving) { step++; c.place(); } }, 1100);
}

const rest = connect(args.ws, { token: token(ME.id) });
rest.close(); // only its REST calls: the page holds the session
const browser = await puppeteer.launch({
  executablePath: args.chromium || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${args.profile}`,
    // The local cluster's self-signed certificate, trusted by its key and nothing else.
    ...(args['spki'] ? [`--ignore-certificate-errors-spki-list=${args['spki']}`] : [])],
});
const t0 = Date.now();

// Every request a page makes, and what it logs as an error.
function watch(page, origin, name) {
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin !== origin && u.protocol !== 'data:') check(false, `${name} requested ${r.url()} outside ${origin}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') check(false, `${name} logged an error: ${m.text()}`);
  });
  page.on('pageerror', (e) => check(false, `${name} threw: ${e.message}`));
}

const list = (page) => page.$$eval('#friends li.friend', (ls) => ls.map((l) => ({
  id: Number(l.dataset.friendId), km: Number(l.dataset.distKm),
})));

try {
  // ------------------------------------------------------------ two sharing friends
  const f1 = phone(nextUser++), f2 = phone(nextUser++), f3 = phone(nextUser++);
  // More friends walking about, for the list's order and a map worth a screenshot.
  const others = [phone(nextUser++), phone(nextUser++), phone(nextUser++)];
  await Promise.all([f1, f2, ...others].map(async (f) => {
    await f.sendFriendRequest(ME.id);
    await rest.acceptFriendRequest(f.id);
  }));
  await Promise.all([f1, f2, f3, ...others].map((f) => f.setSharing(true)));
  walker(f1, 1.2, 0);
  walker(f2, 3.5, 2);
  walker(f3, 2.0, 4);
  others.forEach((f, i) => walker(f, [0.7, 2.8, 5.5][i], 1 + 2 * i));

  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  watch(page, new URL(args.url).origin, 'map');
  const res = await page.goto(`${args.url}/#token=${token(ME.id)}&lat=${ME.lat}&lng=${ME.lng}`);
  const h = res.headers();
  check(h['content-security-policy']?.startsWith("default-src 'self'"), `CSP on the map: ${h['content-security-policy']}`);
  check(h['x-content-type-options'] === 'nosniff', 'nosniff on the map');
  check(h['cache-control'] === 'no-store', `the map's HTML is not cached (${h['cache-control']})`);

  let r = await waitFor(async () => {
    const l = await list(page);
    return l.some((x) => x.id === f1.id) && l.some((x) => x.id === f2.id) && l;
  }, 10000, 'the list shows both sharing friends');
  note(`both friends listed ${r.ms} ms after the page opened`);

  // Hold still: once the last positions are in, the page's distances are the true ones.
  async function distancesRight(what) {
    f1.moving = f2.moving = false;
    await sleep(1600);
    const l = await list(page);
    for (const f of [f1, f2]) {
      const shown = l.find((x) => x.id === f.id);
      const truth = distanceKm(ME.lat, ME.lng, f.position.lat, f.position.lng);
      check(shown && Math.abs(shown.km - truth) <= 0.010,
        `${what}: #${f.id} listed at ${shown?.km} km, truly ${truth.toFixed(4)} km`);
    }
    const sorted = l.map((x) => x.km);
    check(sorted.every((km, i) => i === 0 || sorted[i - 1] <= km), `${what}: sorted by distance ${sorted}`);
    return l;
  }
  const before = await distancesRight('at rest');
  f1.moving = f2.moving = true;
  r = await waitFor(async () => {
    const l = await list(page);
    return [f1, f2].every((f) => {
      const now = l.find((x) => x.id === f.id), then = before.find((x) => x.id === f.id);
      return now && then && Math.abs(now.km - then.km) > 0.001;
    });
  }, 8000, 'both distances change as the friends move');
  note(`distances changed ${r.ms} ms after the friends moved on`);
  await distancesRight('after moving');
  f1.moving = f2.moving = true;

  // ------------------------------------------------------------ one stops sharing
  const off = Date.now();
  await f2.setSharing(false);
  r = await waitFor(async () => !(await list(page)).some((x) => x.id === f2.id), 2000,
    'a friend who stops sharing leaves the list within 2 s');
  note(`sharing off -> gone from the list in ${Date.now() - off} ms`);

  // ------------------------------------------------------------ a request accepted in the page
  await f3.sendFriendRequest(ME.id);
  r = await waitFor(() => page.$(`[data-accept-id="${f3.id}"]`), 6000, 'the incoming request shows in the page');
  const accepted = Date.now();
  await page.click(`[data-accept-id="${f3.id}"]`);
  r = await waitFor(async () => (await list(page)).some((x) => x.id === f3.id), 8000,
    'the friend accepted in the page appears in the list');
  note(`accepted in the page -> #${f3.id} listed in ${Date.now() - accepted} ms`);
  check((await rest.listFriends()).friends.map(Number).includes(f3.id), 'the acceptance is in the database');

  // ------------------------------------------------------------ share and drag me
  await page.click('#sharing');
  await waitFor(async () => (await rest.me()).sharing === true, 3000, 'the switch turns sharing on');
  const box = await (await page.$('#map')).boundingBox();
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2; // the user starts at the centre
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(cx + i * 12, cy - i * 6);
  await page.mouse.up();
  const moved = await page.$eval('#map', (c) => ({ lat: Number(c.dataset.lat), lng: Number(c.dataset.lng) }));
  check(distanceKm(ME.lat, ME.lng, moved.lat, moved.lng) > 0.5, `dragging moved the user (${JSON.stringify(moved)})`);
  await waitFor(() => {
    const seen = f1.seen.get(ME.id);
    return seen && distanceKm(seen.lat, seen.lng, moved.lat, moved.lng) < 0.010;
  }, 5000, 'a friend sees the user where the page dragged it');
  await waitFor(async () => {
    const l = await list(page);
    const shown = l.find((x) => x.id === f1.id);
    const truth = distanceKm(moved.lat, moved.lng, f1.position.lat, f1.position.lng);
    return shown && Math.abs(shown.km - truth) <= 0.010;
  }, 3000, 'the list\'s distances follow the dragged user');

  await page.click('#recenter');
  await sleep(2500); // a few more steps of each trail
  await page.screenshot({ path: join(args.out, 'map.png') });
  note(`map screenshot in ${join(args.out, 'map.png')}`);

  // ------------------------------------------------------------ the admin page
  const admin = await browser.newPage();
  await admin.setViewport({ width: 1280, height: 720 });
  watch(admin, new URL(args.admin).origin, 'admin');
  const ares = await admin.goto(`${args.admin}/admin`);
  check(ares.headers()['content-security-policy']?.includes("connect-src 'self'"), 'CSP on the admin page');
  const nodeState = (id) => admin.$eval(`[data-node-id="${id}"]`, (e) => e.dataset.state).catch(() => null);
  await waitFor(async () => (await admin.$$('[data-node-id]')).length === 3 &&
    (await nodeState('r1')) === 'active', 5000, 'the admin page lists the 3 active nodes');
  await waitFor(async () => (await admin.$$('[data-gateway-id]')).length === 2, 5000,
    'the admin page lists both gateways');
  const [newId, newAddr] = args['new-node'].split('=');
  const zk = ['--zk', args.zk, ...(args['zk-auth-file'] ? ['--zk-auth-file', args['zk-auth-file']] : [])];
  await run(args.ringctl, [...zk, 'add', `${newId}=${newAddr}`, '--no-wait'], { timeout: 30000 });
  r = await waitFor(async () => (await nodeState(newId)) === 'joining', 5000, `${newId} shows as joining`);
  note(`ringctl add (phase 1) -> ${newId} joining on the page in ${r.ms} ms`);
  await waitFor(() => admin.$eval('#change', (e) => !e.hidden && e.dataset.phase === '1/2').catch(() => false),
    3000, 'the change in progress shows phase 1/2');
  await admin.screenshot({ path: join(args.out, 'admin-joining.png') });
  await run(args.ringctl, [...zk, 'add', `${newId}=${newAddr}`], { timeout: 60000 });
  r = await waitFor(async () => (await nodeState(newId)) === 'active', 5000, `${newId} shows as active`);
  note(`ringctl add (phase 2) -> ${newId} active on the page in ${r.ms} ms`);
  const epoch = await admin.$eval('#epoch', (e) => Number(e.dataset.epoch));
  await waitFor(async () => {
    const epochs = await admin.$$eval('[data-gateway-id]', (rows) => rows.map((x) => Number(x.dataset.epoch)));
    return epochs.length === 2 && epochs.every((e) => e === epoch);
  }, 5000, `both gateways show epoch ${epoch}`);
  const share = await admin.$eval(`[data-node-id="${newId}"]`, (e) => Number(e.dataset.share));
  check(share > 10 && share < 40, `${newId} owns a share of the hash space (${share}%)`);
  await waitFor(() => admin.$eval('#change', (e) => e.hidden).catch(() => false), 3000,
    'no change in progress once every gateway applied it');
  await sleep(1200);
  await admin.screenshot({ path: join(args.out, 'admin.png') });
  note(`admin screenshots in ${args.out}`);
} catch (e) {
  check(false, `unexpected: ${e?.stack || e}`);
} finally {
  for (const c of phones) { clearInterval(c.timer); c.close(); }
  await browser.close();
}

console.log(`browser: ${checks - failures} passed, ${failures} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failures ? 1 : 0);
