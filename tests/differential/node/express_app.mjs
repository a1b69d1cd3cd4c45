// Reader "express": Express 4 with the `method-override` package and query+body merging,
// behind a trusted proxy, the way many API servers are built.
// - method: `X-HTTP-Method-Override`, a `_method` query parameter (any case) or a `_method`
//   body member, on POST (method-override's default);
// - host: `req.hostname` (X-Forwarded-Host first: `trust proxy`);
// - path: `req.path`, decoded, with trailing dots and white space trimmed and a format
//   suffix (`.json`) dropped from the last segment, as format-suffix routers do;
// - members: the query under the body (`{...req.query, ...body}`), the body read as JSON
//   whatever the media type, or as a form.
import http from 'node:http';

import express from 'express';
import methodOverride from 'method-override';
import { answer, decode, listen, members, parseJson } from './reading.mjs';

const app = express();
app.set('trust proxy', true);
app.use(express.text({ type: () => true, limit: '1mb' }));
app.use((req, _res, next) => {
  const text = typeof req.body === 'string' ? req.body : '';
  req.bodyError = null;
  req.parsed = {};
  if (text.length > 0) {
    const json = parseJson(text);
    if (json.error === null && json.value !== null && typeof json.value === 'object') {
      req.parsed = json.value;
    } else if (String(req.headers['content-type'] ?? '').includes('form')) {
      req.parsed = Object.fromEntries(new URLSearchParams(text));
    } else {
      req.bodyError = json.error ?? 'not an object';
    }
  }
  next();
});
app.use(methodOverride('X-HTTP-Method-Override'));
app.use(methodOverride((req) => {
  const key = Object.keys(req.query ?? {}).find((name) => name.toLowerCase() === '_method');
  return key === undefined ? undefined : req.query[key];
}));
app.use(methodOverride((req) => (typeof req.parsed?._method === 'string' ? req.parsed._method : undefined)));

function routedPath(path) {
  const decoded = decode(path);
  const at = decoded.lastIndexOf('/');
  const dir = decoded.slice(0, at);
  let last = decoded.slice(at + 1).replace(/[\s.]+$/u, '');
  const dot = last.indexOf('.');
  if (dot > 0) last = last.slice(0, dot);
  return `${dir}/${last}`;
}

app.all('*', (req, res) => {
  const merged = { ...req.query, ...(Array.isArray(req.parsed) ? {} : req.parsed) };
  answer(res, 'express', {
    method: req.method,
    path: routedPath(req.path),
    host: (req.hostname ?? '').toLowerCase(),
    members: members(merged),
    body_error: req.bodyError,
  });
});
// an error anywhere (a malformed URI, say) is a reading too, never a 500
app.use((error, req, res, _next) => {
  answer(res, 'express', { method: req.method, path: req.url, host: '', members: {}, body_error: String(error) });
});
listen(http.createServer(app));
