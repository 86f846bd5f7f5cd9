"""What the benchmark scripts share: the viewer token they write for the engine, a free loopback
port, the engine's /health, a stored timestamp as epoch seconds. Loopback only."""
import json
import socket
import urllib.request
from datetime import datetime

TOKEN = "bench-viewer-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health(addr):
    """`GET /api/v1/health` of the engine listening on `addr` (HOST:PORT), as the viewer."""
    req = urllib.request.Request("http://%s/api/v1/health" % addr, headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def parse_time(s):
    """An RFC 3339 timestamp of the store (…Z) as epoch seconds."""
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
