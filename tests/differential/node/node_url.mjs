// Reader "node-url": Node's own `http` module with WHATWG `new URL()`, JSON.parse and
// object merging, the way a small dependency-free Node service reads a request.
// - path and host from `new URL(req.url, 'http://' + Host)`: the target `//other.host/x`
//   names other.host and the path /x; the path is then decodeURIComponent'ed;
// - members from `Object.assign({}, JSON.parse(body))`, whatever the media type and the
//   method: an own `__proto__` member becomes the prototype, and `merged[name]` follows it.
// Needs no package (reading.mjs is local).
import http from 'node:http';
import { answer, decode, listen, members, parseJson } from './reading.mjs';

const NAME = 'node-url';

function read(req, body) {
  let path = req.url;
  let host = String(req.headers.host ?? '').toLowerCase().replace(/:\d*$/, '');
  let error = null;
  try {
    const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);
    path = decode(url.pathname);
    host = url.hostname;
  } catch (e) {
    error = `url: ${e}`;
  }
  const text = body.toString('utf8');
  let merged = {};
  if (text.trim().length > 0) {
    const parsed = parseJson(text);
    if (parsed.error !== null) error = parsed.error;
    merged = Object.assign({}, parsed.value);
  }
  return { method: req.method, path, host, members: members(merged), body_error: error };
}

// requireHostHeader: false, so that a request without Host still gets a reading (the
// `localhost` fallback below); everything else is Node's default parser.
const server = http.createServer({ requireHostHeader: false }, (req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('error', () => {});
  req.on('end', () => {
    try {
      answer(res, NAME, read(req, Buffer.concat(chunks)));
    } catch (error) {
      answer(res, NAME, { method: req.method, path: req.url, host: '', members: {}, body_error: `reader: ${error}` });
    }
  });
});
listen(server);
