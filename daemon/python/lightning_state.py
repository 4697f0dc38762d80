"""Report live state from a script wrapped by a lightning-local ScriptWork.

Zero dependencies (standard library only). Outside an app (no LIGHTNING_STATE_URL in the
environment) every call is a no-op, so scripts keep working unchanged on their own.

    from lightning_state import report, read
    report(epoch=3, loss=0.25)       # JSON merge patch onto the work's state
    cfg = read()                     # the work's current state (e.g. values the flow set)

The same from a shell:
    curl -sf -X PATCH -H "Authorization: Bearer $LIGHTNING_STATE_TOKEN" \\
         -H 'Content-Type: application/merge-patch+json' -d '{"loss": 0.25}' "$LIGHTNING_STATE_URL"
"""

import json
import os
import urllib.error
import urllib.request

__all__ = ["available", "report", "read"]


def available():
    """True when running inside a lightning-local work."""
    return bool(os.environ.get("LIGHTNING_STATE_URL"))


def _request(method, body=None):
    url = os.environ["LIGHTNING_STATE_URL"]
    headers = {"Authorization": "Bearer " + os.environ.get("LIGHTNING_STATE_TOKEN", "")}
    data = None
    if body is not None:
        data = json.dumps(body, allow_nan=False).encode("utf-8")
        headers["Content-Type"] = "application/merge-patch+json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")
        raise RuntimeError("lightning state endpoint refused the request (%s): %s" % (err.code, detail)) from None


def report(_patch=None, **fields):
    """Merge fields into the work's state: report(loss=0.1) or report({"metrics": {"acc": 0.9}}).
    A None value removes the key (JSON merge patch semantics)."""
    if not available():
        return
    patch = dict(_patch or {})
    patch.update(fields)
    if patch:
        _request("PATCH", patch)


def read():
    """The work's current state as a dict ({} outside an app)."""
    if not available():
        return {}
    return _request("GET") or {}
