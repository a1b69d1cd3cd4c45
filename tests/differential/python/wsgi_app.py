"""Reader "werkzeug": a WSGI app on werkzeug's server behind ProxyFix, with a method
override middleware modelled on Rack::MethodOverride, the way Flask-style services read a
request.

- method: on POST, the ``X-HTTP-Method-Override`` header (WSGI maps ``X-HTTP-Method-Override``
  and ``X_HTTP_METHOD_OVERRIDE`` to the same ``HTTP_X_HTTP_METHOD_OVERRIDE`` key, when the
  server passes the underscore spelling on at all), else a ``_method`` query parameter in
  any case, else ``_method`` in a form body;
- host: ``request.host`` after ProxyFix (``X-Forwarded-Host`` wins);
- path: ``request.path`` (decoded), NFKC-normalised as Unicode-normalising routers do;
- members: ``json.loads`` of the body whatever the media type (the last duplicate wins),
  overlaid by the query (query over body: the opposite precedence of the Express reader).
"""

import io
import json
import sys
import unicodedata
from pathlib import Path
from urllib.parse import parse_qsl

from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

GOVERNED = json.loads((Path(__file__).parent.parent / "governed.json").read_text())
BOOLEANS = set(GOVERNED["booleans"])


def coerce(name, value):
    if name in BOOLEANS and isinstance(value, str):
        text = value.lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    return value


def method_override(app):
    def wrapped(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["differential.body"] = body
        if environ["REQUEST_METHOD"].upper() == "POST":
            override = environ.get("HTTP_X_HTTP_METHOD_OVERRIDE")
            query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            override = override or next((v for k, v in query if k.lower() == "_method"), None)
            if not override and b"_method=" in body:
                form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                override = next((v for k, v in form if k == "_method"), None)
            if override:
                environ["REQUEST_METHOD"] = override.upper()
        return app(environ, start_response)

    return wrapped


def read(environ, start_response):
    request = Request(environ)
    body_error = None
    members = {}
    raw = environ.get("differential.body", b"")
    if raw:
        try:
            parsed = json.loads(raw.decode("utf-8", "replace"))
            if isinstance(parsed, dict):
                members = parsed
            else:
                body_error = "not an object"
        except ValueError as error:
            body_error = str(error)
    members = {**members, **request.args.to_dict()}
    host = request.host.lower()
    host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    reading = {
        "reader": "werkzeug",
        "method": request.method,
        "path": unicodedata.normalize("NFKC", request.path),
        "host": host,
        "members": {name: coerce(name, members[name]) for name in GOVERNED["top"] if name in members},
        "body_error": body_error,
    }
    response = Response(json.dumps(reading), content_type="application/json")
    response.headers["x-differential-reader"] = "werkzeug"
    return response(environ, start_response)


class Quiet(WSGIRequestHandler):
    def log(self, *args, **kwargs):
        pass


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    app = ProxyFix(method_override(read), x_for=1, x_proto=1, x_host=1)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=Quiet)
    print(f"listening {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
