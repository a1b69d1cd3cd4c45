"""Reader "werkzeug": a WSGI app on werkzeug's server behind ProxyFix, with a method
override middleware modelled on Rack::MethodOverride, the way Flask-style services read a
request. Works with werkzeug 2.2 and 3.x.

- method: on POST, ``environ["HTTP_X_HTTP_METHOD_OVERRIDE"]`` (CGI/WSGI header mapping:
  ``X-HTTP-Method-Override`` and ``X_HTTP_METHOD_OVERRIDE`` both map to that key, but
  werkzeug's server drops header names containing ``_`` since 2.3), else a ``_method``
  query parameter (the name in any case), else ``_method`` in a urlencoded form body;
  the value upper-cased and kept when it is a method Rack knows;
- host: ``request.host`` after ``ProxyFix(x_host=1)`` (the last ``X-Forwarded-Host``
  value wins), without port, lower-case;
- path: ``request.path`` (decoded by the server), NFKC-normalised as Unicode-normalising
  routers do;
- members: ``json.loads`` of the body (UTF-8, errors replaced) whatever the media type and
  the method (the last duplicate wins, NaN accepted), overlaid by the query (query over
  body: the opposite precedence of the Express reader).
"""

import io
import json
import math
import os
import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import parse_qsl

from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import get_input_stream

NAME = "werkzeug"
GOVERNED = json.loads(
    Path(os.environ.get("GOVERNED") or Path(__file__).resolve().parent.parent / "governed.json").read_text()
)
BOOLEANS = set(GOVERNED["booleans"])
NESTED = GOVERNED.get("nested", {})
# Rack::MethodOverride::HTTP_METHODS
RACK_METHODS = {"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "LINK", "UNLINK"}


def coerce(name, value):
    if name in BOOLEANS and isinstance(value, str):
        text = value.lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    return value


def governed_members(source):
    out = {}
    for name in GOVERNED["top"]:
        if name not in source:
            continue
        value = source[name]
        if name in NESTED and isinstance(value, dict):
            value = {key: coerce(key, value[key]) for key in NESTED[name] if key in value}
        out[name] = coerce(name, value)
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def jsonable(value):
    """JSON has no NaN and no lone surrogates: null and U+FFFD, as JavaScript would."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {jsonable(k): jsonable(v) for k, v in value.items()}
    return value


def method_override(app):
    """Reads the whole body once (Content-Length or chunked) and applies the override."""

    def wrapped(environ, start_response):
        try:
            body = get_input_stream(environ).read()
        except Exception:  # noqa: BLE001 - a broken body is still a request to read
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        environ["differential.body"] = body
        if environ.get("REQUEST_METHOD", "").upper() == "POST":
            override = environ.get("HTTP_X_HTTP_METHOD_OVERRIDE")
            if not override:
                query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
                override = next((v for k, v in query if k.lower() == "_method"), None)
            if not override and "application/x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "").lower():
                form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                override = next((v for k, v in form if k == "_method"), None)
            if override and override.upper() in RACK_METHODS:
                environ["REQUEST_METHOD"] = override.upper()
        return app(environ, start_response)

    return wrapped


def reading(environ):
    request = Request(environ)
    body_error = None
    body = {}
    raw = environ.get("differential.body", b"")
    if raw.strip():
        try:
            parsed = json.loads(raw.decode("utf-8", "replace"))
            if isinstance(parsed, dict):
                body = parsed
        except ValueError as error:
            body_error = str(error)
    members = {**body, **request.args.to_dict()}
    host = request.host.lower()
    if not host.endswith("]"):
        host = host.rsplit(":", 1)[0]
    return {
        "reader": NAME,
        "method": request.method,
        "path": unicodedata.normalize("NFKC", request.path),
        "host": host,
        "members": governed_members(members),
        "body_error": body_error,
    }


def read(environ, start_response):
    try:
        result = reading(environ)
    except Exception as error:  # noqa: BLE001 - every request gets a reading
        result = {
            "reader": NAME,
            "method": environ.get("REQUEST_METHOD", ""),
            "path": environ.get("PATH_INFO", ""),
            "host": "",
            "members": {},
            "body_error": f"reader: {error!r}",
        }
    response = Response(json.dumps(jsonable(result)), content_type="application/json")
    response.headers["x-differential-reader"] = NAME
    return response(environ, start_response)


class Quiet(WSGIRequestHandler):
    def log(self, *args, **kwargs):
        pass


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    app = ProxyFix(method_override(read), x_for=1, x_proto=1, x_host=1)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=Quiet)
    print(f"listening {server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
