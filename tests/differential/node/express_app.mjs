// Reader "express": Express 4 with the `method-override` package, lenient body parsing and
// query+body merging, behind a trusted proxy, the way many API servers are built.
// - method: method-override on POST, from `X-HTTP-Method-Override` (Node lower-cases header
//   names, so `X_HTTP_METHOD_OVERRIDE` is another header), else `_method` or `_METHOD` in the
//   query;
// - host: `req.hostname` with `trust proxy` (X-Forwarded-Host first, its first value);
// - path: `req.path`, decoded, the last segment's trailing dots and white space trimmed and
//   one format suffix (`.json`) dropped, as format-suffix routers do;
// - members: the query under the body (`{...req.query, ...body}`); the body read as JSON
//   whatever the media type (`express.json({ type: () => true, strict: false })`), or as a
//   form when it says it is one. A body that does not parse leaves the query members.
import http from 'node:http';

import express from 'express';
import methodOverride from 'method-override';
import { answer, decode, listen, members } from './reading.mjs';

const NAME = 'express';
const app = express();
app.set('trust proxy', true);
app.use(methodOverride('X-HTTP-Method-Override'));
app.use(methodOverride((req) => req.query && (req.query._method || req.query._METHOD)));
// a form body is a form; everything else is read as JSON (body-parser skips a body that an
// earlier parser has read)
app.use(express.urlencoded({ extended: true, type: 'application/x-www-form-urlencoded', limit: '10mb' }));
app.use(express.json({ type: () => true, strict: false, limit: '10mb' }));

function routedPath(path) {
  const decoded = decode(path);
  const at = decoded.lastIndexOf('/');
  const dir = decoded.slice(0, at + 1);
  let last = decoded.slice(at + 1).replace(/[\s.]+$/u, '');
  const dot = last.lastIndexOf('.');
  if (dot > 0) last = last.slice(0, dot);
  return dir + last;
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function reading(req, bodyError, bodyParsed = bodyError === null) {
  const query = isPlainObject(req.query) ? req.query : {};
  const body = bodyParsed && isPlainObject(req.body) ? req.body : {};
  let host = '';
  try {
    host = String(req.hostname ?? '').toLowerCase();
  } catch {}
  return {
    method: req.method,
    path: routedPath(req.path ?? req.url),
    host,
    members: members({ ...query, ...body }),
    body_error: bodyError,
  };
}

app.all('*', (req, res) => answer(res, NAME, reading(req, null)));

// a body that does not parse (or any other error) is a reading too, never a 4xx/5xx;
// drain what body-parser left unread first
app.use((error, req, res, _next) => {
  const done = () => {
    try {
      // body-parser's errors carry a `type` (entity.parse.failed, charset.unsupported, …);
      // any other error (a path that does not decode, say) leaves a parsed body in place
      const fromBody = typeof error?.type === 'string';
      answer(res, NAME, reading(req, String(error?.message ?? error), !fromBody));
    } catch (inner) {
      answer(res, NAME, { method: req.method, path: req.url, host: '', members: {}, body_error: `reader: ${inner}` });
    }
  };
  if (req.complete || req.readableEnded) return done();
  req.on('error', () => {});
  req.on('end', done);
  req.resume();
});

// requireHostHeader: false, so that a request without Host still gets a reading
listen(http.createServer({ requireHostHeader: false }, app));
