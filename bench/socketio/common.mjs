// common.mjs: what the Socket.IO servers and phones of scripts/bench share: flags, the friend graph, HS256 tokens.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

// Returns --name value pairs of argv as an object; a flag without a value is true.
export function parseFlags(argv, defaults) {
    const flags = { ...defaults };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
        const name = a.slice(2);
        if (!(name in defaults)) throw new Error(`unknown flag ${a}`);
        if (typeof defaults[name] === 'boolean') flags[name] = true;
        else flags[name] = argv[++i];
    }
    return flags;
}

// Reads "user<TAB>friend" lines (nearby-bench-graph) into a Map user -> [friends].
export function loadGraph(file) {
    const friends = new Map();
    for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue;
        const tab = line.indexOf('\t');
        const u = Number(line.slice(0, tab)), f = Number(line.slice(tab + 1));
        let list = friends.get(u);
        if (!list) friends.set(u, (list = []));
        list.push(f);
    }
    return friends;
}

// The key as nearby's token_key_load reads it: the file's bytes less one trailing newline.
export function loadKey(file) {
    let key = readFileSync(file);
    if (key.length && key[key.length - 1] === 0x0a) key = key.subarray(0, key.length - 1);
    if (key.length && key[key.length - 1] === 0x0d) key = key.subarray(0, key.length - 1);
    return key;
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// An HS256 JWT for user, valid for a week, as nearby-token writes it.
export function signToken(key, user) {
    const head = b64url('{"alg":"HS256","typ":"JWT"}');
    const body = b64url(JSON.stringify({ sub: String(user), exp: Math.floor(Date.now() / 1000) + 7 * 86400 }));
    const sig = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
    return `${head}.${body}.${sig}`;
}

// Returns the user id of a valid token, or 0.
export function verifyToken(key, token) {
    if (typeof token !== 'string') return 0;
    const parts = token.split('.');
    if (parts.length !== 3) return 0;
    const want = createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest();
    const got = Buffer.from(parts[2], 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return 0;
    try {
        const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
        if (!(claims.exp > Date.now() / 1000)) return 0;
        return Number(claims.sub) || 0;
    } catch {
        return 0;
    }
}
