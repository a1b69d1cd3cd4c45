// What the Node readers share: the governed names, coercion as a lenient app does it,
// and the HTTP answer that carries a reading back through the gateway.
import { readFileSync } from 'node:fs';

const governed = JSON.parse(readFileSync(new URL('../governed.json', import.meta.url), 'utf8'));
const booleans = new Set(governed.booleans);

/** A coercing app reads "true"/"false"/"1"/"0" as booleans for boolean members. */
function coerce(name, value) {
  if (booleans.has(name) && typeof value === 'string') {
    const text = value.toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
  }
  return value;
}

/** The governed members of `source` as `source[name]` reads them (prototype included). */
export function members(source) {
  const out = {};
  if (source === null || typeof source !== 'object') return out;
  for (const name of governed.top) {
    const value = source[name];
    if (value !== undefined) out[name] = coerce(name, value);
  }
  return out;
}

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

export function answer(res, name, reading) {
  const body = JSON.stringify({ reader: name, body_error: null, ...reading });
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
