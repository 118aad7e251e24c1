// token.mjs: session tokens for the JS tests, as nearby-token makes them: EdDSA with an
// Ed25519 private key in PEM (scripts/cluster's DIR/jwt-ed25519.key), else HS256 with the
// secret (the file's bytes less one trailing newline). No dependencies beyond node.
import { createPrivateKey, createHmac, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

const b64url = (s) => Buffer.from(s).toString('base64url');

// Reads a signing key file: { alg: 'EdDSA', key: KeyObject } or { alg: 'HS256', key: string }.
export function readSigningKey(path) {
  const text = readFileSync(path, 'utf8');
  if (text.startsWith('-----BEGIN ')) return { alg: 'EdDSA', key: createPrivateKey(text) };
  return { alg: 'HS256', key: text.replace(/\r?\n$/, '') };
}

// A token for user valid ttl seconds (negative: expired). key: what readSigningKey returns,
// or a file's text: an Ed25519 private key in PEM, else an HS256 secret (e.g. a wrong one to
// forge with).
export function makeToken(key, user, ttl = 3600) {
  let k = key;
  if (typeof key === 'string')
    k = key.startsWith('-----BEGIN ') ? { alg: 'EdDSA', key: createPrivateKey(key) } : { alg: 'HS256', key };
  const head = b64url(JSON.stringify({ alg: k.alg, typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub: String(user), exp: Math.floor(Date.now() / 1000) + ttl }));
  const input = `${head}.${body}`;
  const sig = k.alg === 'EdDSA'
    ? sign(null, Buffer.from(input), k.key).toString('base64url')
    : createHmac('sha256', k.key).update(input).digest('base64url');
  return `${input}.${sig}`;
}
