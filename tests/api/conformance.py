#!/usr/bin/env python3
"""API conformance: each tests/api/shapes/*.json names a request and the shape of
its answer (field names and JSON types from Nomad's API documentation); this runs
them in file-name order against a drover server and reports every missing or
mistyped field with its path. Usage: conformance.py ADDR [SHAPES_DIR]
Exit status: 0 all passed (or skipped), 1 a check failed, 2 bad usage or data."""
import glob
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.abspath(__file__))
SCALARS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
    "any": lambda v: True,
}


def type_name(v):
    for name in ("boolean", "integer", "number", "string", "object", "array", "null"):
        if SCALARS[name](v):
            return name
    return type(v).__name__


def check(shape, value, path, errors):
    """Append 'path: problem' for each way value does not fit shape."""
    if len(errors) > 50:
        return
    if isinstance(shape, str):
        alts = shape.split("|")
        for a in alts:
            if a not in SCALARS:
                raise ValueError("unknown shape %r at %s" % (a, path))
        if not any(SCALARS[a](value) for a in alts):
            errors.append("%s: expected %s, got %s" % (path, shape, type_name(value)))
    elif isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError("an array shape has one element shape (at %s)" % path)
        if not isinstance(value, list):
            errors.append("%s: expected array, got %s" % (path, type_name(value)))
        elif not value:
            errors.append("%s: expected a non-empty array" % path)
        else:
            for i, v in enumerate(value):
                check(shape[0], v, "%s[%d]" % (path, i), errors)
    elif isinstance(shape, dict) and "$or_null" in shape:
        if value is not None:
            check(shape["$or_null"], value, path, errors)
    elif isinstance(shape, dict) and "$map" in shape:
        if not isinstance(value, dict):
            errors.append("%s: expected object, got %s" % (path, type_name(value)))
        else:
            for k, v in value.items():
                check(shape["$map"], v, "%s.%s" % (path, k), errors)
    elif isinstance(shape, dict):
        if not isinstance(value, dict):
            errors.append("%s: expected object, got %s" % (path, type_name(value)))
            return
        for k, s in shape.items():
            if k not in value:
                errors.append("%s.%s: missing" % (path, k))
            else:
                check(s, value[k], "%s.%s" % (path, k), errors)
    else:
        raise ValueError("bad shape at %s: %r" % (path, shape))


def dig(value, dotted):
    """The value at a dotted path ('0.ID', 'TaskGroups.web.Desired'); KeyError if absent."""
    for part in dotted.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value[part]
        else:
            raise KeyError(dotted)
    return value


class Runner:
    def __init__(self, addr):
        self.addr = addr.rstrip("/")
        self.vars = {}
        self.job = json.load(open(os.path.join(ROOT, "job.json")))
        self.timeouts = 0  # blocking queries that answered at wait, unchanged
        self.woken = 0  # blocking queries a write woke

    def fill(self, s):
        for k, v in self.vars.items():
            s = s.replace("{%s}" % k, str(v))
        return s

    def fill_body(self, b):
        if b == "@job":
            return self.job
        if isinstance(b, str):
            return self.fill(b)
        if isinstance(b, dict):
            return {k: self.fill_body(v) for k, v in b.items()}
        if isinstance(b, list):
            return [self.fill_body(v) for v in b]
        return b

    def request(self, method, path, body=None, timeout=15, stream=False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.addr + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode(errors="replace")
        if stream:
            return resp.status, resp.headers, resp
        return resp.status, resp.headers, resp.read().decode(errors="replace")

    def read_stream(self, resp, deadline):
        """The first line of a newline-delimited stream that is not a heartbeat ({})."""
        while time.time() < deadline:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line or line == b"{}":
                continue
            return json.loads(line)
        raise TimeoutError("no event on the stream")

    def wait_for(self, spec):
        deadline = time.time() + spec.get("timeout", 30)
        path = self.fill(spec["path"])
        last = None
        while time.time() < deadline:
            code, _, text = self.request("GET", path)
            if code == 200:
                try:
                    last = dig(json.loads(text), spec["field"])
                    if last == spec["equals"]:
                        return None
                except (KeyError, IndexError, ValueError):
                    pass
            time.sleep(0.2)
        return "before: %s %s never became %r (last %r)" % (path, spec["field"], spec["equals"], last)

    def run_file(self, fn):
        name = os.path.basename(fn)[:-5]
        spec = json.load(open(fn))
        if "skip_while_404" in spec:
            code, _, _ = self.request("GET", spec["skip_while_404"])
            if code == 404:
                return "skip", ["%s answers 404" % spec["skip_while_404"]]
        if "before" in spec:
            err = self.wait_for(spec["before"])
            if err:
                return "fail", [err]
        method, path = spec["method"], self.fill(spec["path"])
        body = self.fill_body(spec["body"]) if "body" in spec else None
        wakers, errors = self.start_wakes(spec.get("wakes", []))
        if errors:
            return "fail", errors
        if spec.get("stream"):
            code, headers, resp = self.request(method, path, body, stream=True)
            if code != 200:
                return "fail", ["%s %s: status %d (expected 200): %s" % (method, path, code, resp[:200])]
            try:
                value = self.read_stream(resp, time.time() + 10)
            except (TimeoutError, OSError, ValueError) as e:
                return "fail", ["%s %s: %s" % (method, path, e)]
            finally:
                if hasattr(resp, "close"):
                    resp.close()
            text = None
        else:
            code, headers, text = self.request(method, path, body)
            want = spec.get("status", 200)
            if code != want:
                return "fail", ["%s %s: status %d (expected %d): %s" % (method, path, code, want, text[:300])]
            if want != 200 or spec.get("text"):
                if spec.get("body_contains") and spec["body_contains"] not in text:
                    return "fail", ["%s %s: body %r lacks %r" % (method, path, text[:200], spec["body_contains"])]
                errors = []
                return self.finish_wakes(wakers, errors), errors
            try:
                value = json.loads(text)
            except ValueError as e:
                return "fail", ["%s %s: not JSON (%s): %s" % (method, path, e, text[:200])]
        errors = []
        for h in spec.get("headers", []):
            if headers.get(h) is None:
                errors.append("header %s: missing" % h)
        check(spec["response"], value, "$", errors)
        for k, want in self.fill_body(spec.get("expect", {})).items():
            try:
                got = dig(value, k)
            except (KeyError, IndexError, ValueError, TypeError):
                errors.append("$.%s: missing (expected %r)" % (k, want))
                continue
            if got != want:
                errors.append("$.%s: %r (expected %r)" % (k, got, want))
        for var, where in spec.get("capture", {}).items():
            if where.startswith("="):
                self.vars[var] = where[1:]
                continue
            try:
                self.vars[var] = dig(value, where)
            except (KeyError, IndexError, ValueError, TypeError):
                errors.append("capture %s: $.%s missing" % (var, where))
        if (not errors and method == "GET" and not spec.get("stream") and spec.get("blocking", True) and
                headers.get("X-Nomad-Index")):
            errors += self.times_out_at_wait(path, int(headers["X-Nomad-Index"]))
        self.finish_wakes(wakers, errors)
        return ("fail" if errors else "pass"), errors

    def blocking(self, path, index, wait):
        """GET path as a blocking query: (status, X-Nomad-Index, seconds taken)."""
        sep = "&" if "?" in path else "?"
        start = time.time()
        code, headers, _ = self.request("GET", "%s%sindex=%d&wait=%s" % (path, sep, index, wait), timeout=60)
        got = headers.get("X-Nomad-Index") if headers else None
        return code, int(got) if got and got.isdigit() else None, time.time() - start

    def times_out_at_wait(self, path, index):
        """A blocking query at the index just answered: nothing changes, so it answers
        when wait (1s) runs out, at the same index. If the state moved meanwhile it may
        answer early, but then at a newer index: never early at the same one."""
        code, got, took = self.blocking(path, index, "1s")
        if code != 200 or got is None:
            return ["blocking %s?index=%d&wait=1s: status %d, X-Nomad-Index %r" % (path, index, code, got)]
        if got == index and took < 0.9:
            return ["blocking %s?index=%d&wait=1s: answered after %.2fs at the same index (did not wait)" %
                    (path, index, took)]
        if got < index:
            return ["blocking %s?index=%d: answered an older index %d" % (path, index, got)]
        self.timeouts += got == index
        return []

    def start_wakes(self, paths):
        """For each path the request must change: read its index, then park a blocking
        query (wait=60s) at it in a thread. Returns (threads, errors)."""
        wakers = []
        for p in paths:
            p = self.fill(p)
            code, headers, _ = self.request("GET", p)
            idx = headers.get("X-Nomad-Index") if headers else None
            if code != 200 or not idx:
                return [], ["wakes %s: status %d, X-Nomad-Index %r" % (p, code, idx)]
            w = {"path": p, "index": int(idx)}
            w["thread"] = threading.Thread(target=lambda w=w: w.update(zip(("code", "got", "took"),
                                                                          self.blocking(w["path"], w["index"], "60s"))))
            w["thread"].daemon = True
            w["thread"].start()
            wakers.append(w)
        time.sleep(0.3 if wakers else 0)  # parked before the write
        return wakers, []

    def finish_wakes(self, wakers, errors):
        """Each parked query must answer, before its wait, at a newer index."""
        for w in wakers:
            w["thread"].join(30)
            if w["thread"].is_alive() or w.get("code") != 200 or not w.get("got") or w["got"] <= w["index"]:
                errors.append("wakes %s?index=%d: %s" % (w["path"], w["index"], "still parked 30s after the write"
                              if w["thread"].is_alive() else "status %r, index %r" % (w.get("code"), w.get("got"))))
            else:
                self.woken += 1
        return "fail" if errors else "pass"


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    shapes = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "shapes")
    files = sorted(glob.glob(os.path.join(shapes, "*.json")))
    if not files:
        print("no shape files in %s" % shapes, file=sys.stderr)
        return 2
    r = Runner(sys.argv[1])
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for fn in files:
        name = os.path.basename(fn)[:-5]
        try:
            verdict, notes = r.run_file(fn)
        except ValueError as e:
            print("DATA ERROR: %s: %s" % (name, e))
            return 2
        counts[verdict] += 1
        print("%s: api %s" % (verdict.upper(), name))
        for n in notes:
            print("    %s: %s" % (name, n))
    print("api conformance: %(pass)d passed, %(fail)d failed, %(skip)d skipped" % counts +
          "; blocking queries: %d timed out at wait, %d woken by a write" % (r.timeouts, r.woken))
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
