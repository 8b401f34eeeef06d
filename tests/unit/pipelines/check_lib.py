"""Helpers of the *_check.py scripts beside this file (the local APIs' checks and the fleet
generator's): stop at the first problem, and one HTTP call to a local API. Imported by name: a
script's own dir comes first on sys.path. Python 3 standard library only."""
import json
import sys
import urllib.error
import urllib.request


def Fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def Check(condition, message):
    if not condition:
        Fail(message)


def Call(url, token=None, method="GET", body=None):
    """(status, headers, body bytes) of one request to a local API (body: a JSON value or None;
    token: sent as a bearer token when given). Every answer must be JSON, an error one with a
    message: {"error": text}."""
    request = urllib.request.Request(url, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            status, headers, data = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, data = e.code, e.headers, e.read()
    Check(headers.get("Content-Type") == "application/json",
          f"{method} {url}: Content-Type {headers.get('Content-Type')!r}")
    if status != 200:
        error = json.loads(data)
        Check(isinstance(error.get("error"), str), f"{url}: {status} without an error message: {data[:200]!r}")
    return status, headers, data
