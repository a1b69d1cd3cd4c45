// Reader "node-url": Node's own `http` module with WHATWG `new URL()`, JSON.parse and
// object merging, the way a small Node service reads a request.
// - path and host from `new URL(req.url, 'http://' + Host)`: `//other.host/x` names
//   other.host and the path /x;
// - members from `Object.assign({}, JSON.parse(body))`, whatever the media type: an own
//   `__proto__` member becomes the prototype, and `merged[name]` follows it.
import http from 'node:http';
import { answer, decode, listen, members, parseJson } from './reading.mjs';

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let url;
    try {
      url = new URL(req.url, `http://${req.headers.host ?? 'localhost'}`);
    } catch (error) {
      return answer(res, 'node-url', { method: req.method, path: req.url, host: '', members: {}, body_error: String(error) });
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const parsed = text.length > 0 ? parseJson(text) : { value: {}, error: null };
    const merged = Object.assign({}, parsed.value);
    answer(res, 'node-url', {
      method: req.method,
      path: decode(url.pathname),
      host: url.hostname.toLowerCase(),
      members: members(merged),
      body_error: parsed.error,
    });
  });
});
listen(server);
