#!/usr/bin/env python3
"""Checks the include rules of STYLE.md: a layer includes only the layers
below it, and third-party headers stay in the one place that owns them.
Exits 1 listing every violation."""
import os
import re
import sys

ALLOWED = {
    "core": {"core"},
    "config": {"core", "config"},
    "tls": {"core", "config", "tls"},
    "net": {"core", "config", "net"},
    "route": {"core", "config", "route"},
    "lb": {"core", "config", "lb"},
    "http": {"core", "net", "tls", "config", "route", "lb", "http"},
    "proxy": {"core", "net", "tls", "config", "route", "lb", "http", "proxy"},
    "source": {"core", "config", "source"},
    "translate": {"core", "config", "tls", "translate"},
    "admin": {"core", "config", "http", "admin"},
}
# third-party header -> the only files allowed to include it
OWNED = {"jansson.h": {"src/config/config.c", "src/source/", "src/translate/", "src/main.c", "src/cluster."}, "yaml.h": {"src/source/yaml.c"}, "pcre2.h": {"src/config/regex.c"}, "zlib.h": {"src/proxy/gzip.c"}, "openssl/": {"src/tls/"}, "nghttp2/": {"src/proxy/h2.c", "src/proxy/h2up.c"}, "curl/": {"src/source/kubeapi.c"}}

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
errors = []
for dirpath, _, files in os.walk(os.path.join(root, "src")):
    for f in files:
        if not f.endswith((".c", ".h")):
            continue
        path = os.path.relpath(os.path.join(dirpath, f), root)
        parts = path.split(os.sep)
        layer = parts[1] if len(parts) > 2 else None  # src/main.c has no layer
        for n, line in enumerate(open(os.path.join(root, path)), 1):
            m = re.match(r'\s*#\s*include\s*[<"]([^>"]+)[>"]', line)
            if not m:
                continue
            inc = m.group(1)
            for prefix, owners in OWNED.items():
                if inc.startswith(prefix) and not any(path.startswith(o) for o in owners):
                    errors.append(f"{path}:{n}: includes {inc}, owned by {sorted(owners)}")
            target = inc.split("/")[0] if "/" in inc else None
            if layer and target in ALLOWED and target not in ALLOWED[layer]:
                errors.append(f"{path}:{n}: layer '{layer}' may not include '{inc}'")
for e in errors:
    print(e)
print(f"layers: {len(errors)} violations")
sys.exit(1 if errors else 0)
