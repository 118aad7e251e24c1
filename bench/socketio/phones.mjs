// phones.mjs: socket.io-client phones of the same shape as nearby-loadgen's, for scripts/bench; one JSON summary line at the end.
//
// Phone i is user i (1..P) on server (i-1) mod S; it connects with a token, waits for
// nearby, then sends loc every interval (+-20 %) from within --spread-km of one
// point, with a ts that rises strictly per user. Latency is receive time minus ts of
// each friend message after the first from that friend (as nearby-loadgen times
// moves of a shown friend), in 1 ms buckets reported by their upper edge.
//
// The counted window, as nearby-loadgen's: locs whose ts falls in it should each reach
// every friend of the sender (--graph); friend messages about exactly those locs are
// counted whenever they arrive, and for --drain-ms after the window phones send nothing
// and keep reading. It runs from --warmup to --duration or, with --window S, for S
// seconds from when every phone is online (after --warmup; "window open" on stderr).
import { performance } from 'node:perf_hooks';
import { io } from 'socket.io-client';
import { loadGraph, loadKey, parseFlags, signToken } from './common.mjs';

const flags = parseFlags(process.argv.slice(2), {
    url: 'http://127.0.0.1:33041', 'secret-file': '', phones: '2000', 'interval-ms': '2000',
    warmup: '4', duration: '14', 'spread-km': '3', 'ramp-per-s': '2000', graph: '', 'drain-ms': '0', window: '0',
});
const urls = flags.url.split(',');
const phones = Number(flags.phones), interval = Number(flags['interval-ms']);
const warmupMs = Number(flags.warmup) * 1000, durationMs = Number(flags.duration) * 1000;
const spreadKm = Number(flags['spread-km']);
const key = loadKey(flags['secret-file']);
const drainMs = Number(flags['drain-ms']), windowMs = Number(flags.window) * 1000;
const t0 = performance.now() + performance.timeOrigin;
const friendCount = new Uint32Array(phones + 1);
if (flags.graph) for (const [u, list] of loadGraph(flags.graph)) if (u <= phones) friendCount[u] = list.length;
const now = () => performance.timeOrigin + performance.now();

const FINE = 2000, BUCKETS = FINE + 581;
const hist = new Uint32Array(BUCKETS);
let counting = false, quiet = false, samples = 0, maxMs = 0;
let updates = 0, pushes = 0, errors = 0, nearbys = 0, sessions = 0;
// The window's edges are set above every ts used, so no loc is counted on one side of an edge as
// sent and on the other as delivered.
let windowFrom = Infinity, windowTo = Infinity, tsMax = 0, windowFromMs = 0, windowToMs = 0, windowSessions = 0;
const win = { updates: 0, expected: 0, delivered: 0 };
const edge = () => Math.max(Math.floor(Date.now()) + 1, tsMax + 1);

function record(ms) {
    if (!(ms > 0)) ms = 0;
    const b = ms < FINE ? Math.floor(ms) : Math.min(BUCKETS - 1, FINE + Math.floor((ms - FINE) / 100));
    hist[b]++;
    samples++;
    if (ms > maxMs) maxMs = ms;
}
function percentile(q) {
    if (!samples) return 0;
    const rank = Math.min(samples - 1, Math.floor(q * samples));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
        seen += hist[b];
        if (seen > rank) return b < FINE ? b + 1 : FINE + (b - FINE + 1) * 100;
    }
    return 60000;
}

const lastTs = new Float64Array(phones + 1);
function startPhone(user) {
    const r = spreadKm * Math.sqrt(Math.random()), th = 2 * Math.PI * Math.random();
    const lat = 48.8566 + (r * Math.cos(th)) / 111.195;
    const lng = 2.3522 + (r * Math.sin(th)) / (111.195 * Math.cos((48.8566 * Math.PI) / 180));
    const socket = io(urls[(user - 1) % urls.length], {
        transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: signToken(key, user) },
    });
    const seen = new Set();
    const shownTs = new Map(); // friend -> newest ts shown: a repeat is not a delivery
    let timer = null;
    const send = () => {
        if (quiet) return;
        let ts = Math.floor(Date.now());
        if (ts <= lastTs[user]) ts = lastTs[user] + 1;
        lastTs[user] = ts;
        if (ts > tsMax) tsMax = ts;
        socket.emit('loc', { lat, lng, ts });
        if (counting) updates++;
        if (ts >= windowFrom && ts < windowTo) {
            win.updates++;
            win.expected += friendCount[user];
        }
        timer = setTimeout(send, interval * (0.8 + 0.4 * Math.random()));
    };
    socket.on('nearby', () => {
        nearbys++;
        sessions++;
        send();
    });
    socket.on('friend', (m) => {
        const shown = shownTs.get(m.id) ?? 0;
        if (m.ts > shown) {
            shownTs.set(m.id, m.ts);
            if (m.ts >= windowFrom && m.ts < windowTo) win.delivered++;
        }
        if (!counting) {
            seen.add(m.id);
            return;
        }
        pushes++;
        if (seen.has(m.id)) record(now() - m.ts);
        else seen.add(m.id);
    });
    socket.on('connect_error', () => errors++);
    socket.on('disconnect', () => {
        sessions--;
        clearTimeout(timer);
    });
}

let started = 0;
const ramp = setInterval(() => {
    const n = Math.max(1, Math.round(Number(flags['ramp-per-s']) / 100));
    for (let i = 0; i < n && started < phones; i++) startPhone(++started);
    if (started >= phones) clearInterval(ramp);
}, 10);
// The window opens after --warmup, or once every phone is online if later (30 s at most), and,
// with --window, lasts that many seconds (else until --duration); then --drain-ms of quiet.
const openWindow = () => {
    if (windowMs && sessions < phones && now() - t0 < warmupMs + 30000) {
        setTimeout(openWindow, 50);
        return;
    }
    counting = true;
    windowFrom = edge();
    windowFromMs = now();
    windowSessions = sessions;
    if (windowMs) {
        console.error(`phones.mjs: window open, ${sessions} of ${phones} phones online`);
        setTimeout(closeWindow, windowMs);
    }
};
const closeWindow = () => {
    windowTo = edge();
    windowToMs = now();
    quiet = true;
    setTimeout(finish, drainMs);
};
const finish = () => {
    counting = false;
    const secs = (windowToMs - windowFromMs) / 1000;
    console.log(JSON.stringify({
        kind: 'summary', sessions, updates, pushes, updates_per_s: Math.round(updates / secs),
        pushes_per_s: Math.round(pushes / secs), p50_ms: percentile(0.5), p99_ms: percentile(0.99),
        p999_ms: percentile(0.999), max_ms: Math.round(maxMs), latency_samples: samples, errors, nearby: nearbys,
        window_s: secs, window_updates: win.updates, window_skipped: 0,
        window_expected: flags.graph ? win.expected : null, window_delivered: win.delivered, window_sessions: windowSessions,
    }));
    process.exit(0);
};
setTimeout(openWindow, warmupMs);
if (!windowMs) setTimeout(closeWindow, durationMs);
