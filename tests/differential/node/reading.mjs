// What the Node readers share (no packages needed): the governed names, coercion as a
// lenient app does it, and the HTTP answer that carries a reading back.
import { readFileSync } from 'node:fs';

const governedPath = process.env.GOVERNED || new URL('../governed.json', import.meta.url);
const governed = JSON.parse(readFileSync(governedPath, 'utf8'));
const booleans = new Set(governed.booleans);
const nested = governed.nested ?? {};

/** A coercing app reads "true"/"false"/"1"/"0" (any case) as booleans for boolean members. */
function coerce(name, value) {
  if (booleans.has(name) && typeof value === 'string') {
    const text = value.toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
  }
  return value;
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The governed members of `source` as `source[name]` reads them (the prototype chain
 * included); nested objects reduced to their governed names, read the same way.
 */
export function members(source) {
  const out = {};
  if (source === null || typeof source !== 'object') return out;
  for (const name of governed.top) {
    let value = source[name];
    if (value === undefined) continue;
    if (nested[name] && isObject(value)) {
      const inner = {};
      for (const key of nested[name]) {
        const v = value[key];
        if (v !== undefined) inner[key] = coerce(key, v);
      }
      value = inner;
    }
    out[name] = coerce(name, value);
  }
  return out;
}

/** decodeURIComponent, or the text unchanged when it is not valid percent-encoded UTF-8. */
export function decode(path) {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

export function parseJson(text) {
  try {
    return { value: JSON.parse(text), error: null };
  } catch (error) {
    return { value: null, error: String(error) };
  }
}

/** Lone surrogates would make the answer invalid JSON for a strict parser. */
function wellFormed(value) {
  if (typeof value === 'string') return value.toWellFormed();
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[wellFormed(k)] = wellFormed(v);
    return out;
  }
  return value;
}

export function answer(res, name, reading) {
  let body;
  try {
    body = JSON.stringify(wellFormed({ reader: name, body_error: null, ...reading }));
  } catch (error) {
    body = JSON.stringify({ reader: name, method: String(reading.method), path: '', host: '', members: {}, body_error: String(error) });
  }
  if (res.headersSent) return;
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-differential-reader': name,
  });
  res.end(body);
}

/** Listens on 127.0.0.1 at the port of argv[2] (0: any) and prints `listening <port>`. */
export function listen(server) {
  server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
    process.stdout.write(`listening ${server.address().port}\n`);
  });
}
