"""The HTTP plumbing of the local test APIs (pipelines/*/api/*_api.py), written once.

A server script keeps its data, faults and endpoints in an api object whose
Handle(method, path, query, headers, body, base_url) returns a Response; this module parses the
common options (--port, --host, --port-file, --token, --quiet), serves that object on a
ThreadingHTTPServer with JSON answers (errors of the HTTP layer included), and stops cleanly on
SIGTERM/SIGINT. Python 3 standard library only; a script imports it by a path relative to its
own file, so it runs from any current directory.
"""
import argparse
import json
import re
import os
import signal
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ApiError(Exception):
    """A request the API answers with an error status and {"error": message}."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class Response:
    """One answer: body is bytes as they are, anything else is sent as compact JSON."""

    def __init__(self, status, body, headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else Json(body)
        self.headers = headers or {}


def Json(value):
    return json.dumps(value, separators=(",", ":")).encode()


def ErrorResponse(error):
    return Response(error.status, {"error": str(error)}, error.headers)


def ParseBody(body):
    try:
        return json.loads(body.decode("utf-8") or "null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not JSON")


def ParseConfig(body, keys):
    """The {key: value} of a POST /admin/config body; unknown keys and bad values are 400. keys:
    {name: int or float}, or a sequence of names that all take integers. Values are
    non-negative; an int key takes no fraction."""
    kinds = dict(keys) if isinstance(keys, dict) else {k: int for k in keys}
    known = ", ".join(sorted(kinds))
    if not isinstance(body, dict) or not body:
        raise ApiError(400, f"expected a JSON object with some of {known}")
    unknown = sorted(set(body) - set(kinds))
    if unknown:
        raise ApiError(400, f"unknown config key {', '.join(unknown)} (known: {known})")
    changes = {}
    for key, value in body.items():
        kind = kinds[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
                or (kind is int and value != int(value)):
            what = "integer" if kind is int else "number"
            raise ApiError(400, f"{key} must be a non-negative {what}, got {value!r}")
        changes[key] = kind(value)
    return changes


def Route(routes, method, path):
    """The 200 Response of routes[(method, path)]() (a JSON value); 405 (with Allow) when path is
    served under another method, 404 when it is not served at all."""
    route = routes.get((method, path))
    if route:
        return Response(200, route())
    allowed = [m for m, p in routes if p == path]
    if allowed:
        raise ApiError(405, f"{method} not allowed here", {"Allow": ", ".join(allowed)})
    raise ApiError(404, f"no such endpoint {path}")


def IntParam(query, name, default, low, high):
    """The integer query parameter name in [low, high]; ApiError 400 when it is not."""
    text = query.get(name)
    if text is None or text == "":
        return default
    if not re.fullmatch(r"\d+", text):
        raise ApiError(400, f"{name} must be an integer, got {text!r}")
    value = int(text)
    if value < low or value > high:
        raise ApiError(400, f"{name} must be in {low}..{high}, got {value}")
    return value


class AdminState:
    """The /admin/stats, GET and POST /admin/config answers of an api object that holds lock_,
    stats_ (with Json()) and settings_ (with Config() and kConfigKeys); Configured(changes) runs
    under the lock after a config change (e.g. to refill a rate limiter); Reset() is the api's."""

    def AdminRoutes(self, body):
        """The /admin routes for Route(): health, stats, config (GET, POST) and reset."""
        return {("GET", "/admin/health"): lambda: {"status": "ok"},
                ("GET", "/admin/stats"): self.StatsJson,
                ("GET", "/admin/config"): self.ConfigJson,
                ("POST", "/admin/reset"): self.Reset,
                ("POST", "/admin/config"): lambda: self.SetConfig(
                    ParseConfig(ParseBody(body), type(self.settings_).kConfigKeys))}

    def StatsJson(self):
        with self.lock_:
            return self.stats_.Json()

    def ConfigJson(self):
        with self.lock_:
            return self.settings_.Config()

    def SetConfig(self, changes):
        with self.lock_:
            for key, value in changes.items():
                setattr(self.settings_, key, value)
            self.Configured(changes)
            return self.settings_.Config()

    def Configured(self, changes):
        pass


class Handler(BaseHTTPRequestHandler):
    """One request on one of the server's threads; the logic is the api object's. Serve makes a
    subclass per server that sets api, quiet and server_version."""

    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: with Nagle on, a kept-alive client's delayed ACK holds
    # the body 40 ms (the fleet enricher made one request per event: 25 per second).
    disable_nagle_algorithm = True
    api = None
    quiet = False

    def Dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            return self.send_error(400, f"bad Content-Length {length!r}")
        body = self.rfile.read(int(length))
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        response = self.api.Handle(self.command, url.path, query, self.headers, body, f"http://{host}")
        self.Send(response.status, response.body, response.headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = Dispatch

    def Send(self, status, body, headers):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        # Errors of the HTTP layer itself (bad request line, unsupported method) are JSON too.
        self.close_connection = True
        self.Send(code, Json({"error": message or self.responses.get(code, ("error",))[0]}),
                  {"Connection": "close"})

    def log_message(self, format, *args):
        if not self.quiet:
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))


def ArgParser(doc):
    """A parser with the leading common options (--port, --host, --port-file); the script adds
    its own, then calls ParseArgs."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port; default 0)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port-file", help="write the port to this file once listening")
    return parser


def ParseArgs(parser, argv, token_env, non_negative):
    """Adds the trailing common options (--token, default env token_env; --quiet), parses argv and
    rejects a negative value of any option named in non_negative (dest names)."""
    parser.add_argument("--token", default=os.environ.get(token_env, ""),
                        help=f"bearer token data requests need (default: env {token_env}; empty: no auth)")
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    args = parser.parse_args(argv)
    for name in non_negative:
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0")
    return args


def Stop(signum, frame):
    raise SystemExit(0)   # unwinds serve_forever in the main thread; the finally closes the socket


def Serve(args, make_api, server_version):
    """Serves make_api() until SIGTERM/SIGINT; prints "listening on http://<host>:<port>" first."""
    signal.signal(signal.SIGTERM, Stop)   # first: a stop while the data loads is clean too
    signal.signal(signal.SIGINT, Stop)
    handler = type("Handler", (Handler,), {"api": make_api(), "quiet": args.quiet,
                                           "server_version": server_version})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)   # readers never see a half-written file
    print(f"listening on http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
