"""Canary sweep: prove that planted secrets appear nowhere they must not.

After a test run, search every file under the guardian home and every captured output
for each planted secret in raw, URL-encoded (either case, + for space), JSON-escaped,
base64 and base64url forms. Every end-to-end test calls assert_no_leak with what it planted.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from urllib.parse import quote, quote_plus


def leak_forms(secret: str) -> dict[str, bytes]:
    raw = secret.encode()
    forms = {
        "raw": raw,
        "url": quote(secret, safe="").encode(),
        "url_plus": quote_plus(secret).encode(),
        "json": json.dumps(secret)[1:-1].encode(),
    }
    # lowercase percent escapes (%2f) are as valid as quote()'s uppercase ones
    forms["url_lower"] = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), forms["url"].decode()).encode()
    # base64 and base64url of the secret at each of the 3 alignments it can take inside a longer blob
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        forms[f"base64_{shift}"] = encoded[4 if shift else 0 : -4].encode()
        urlsafe = base64.urlsafe_b64encode(b"\0" * shift + raw).decode()
        forms[f"base64url_{shift}"] = urlsafe[4 if shift else 0 : -4].encode()
    return {name: form for name, form in forms.items() if len(form) >= 12}


def files_under(root: Path):
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                yield path


def find_leaks(secrets, home: Path | None = None, outputs=()) -> list[str]:
    """Human-readable descriptions of every place a secret form was found (empty = clean)."""
    leaks: list[str] = []
    blobs: list[tuple[str, bytes]] = []
    if home is not None and Path(home).exists():
        blobs += [(str(path), path.read_bytes()) for path in files_under(Path(home))]
    for index, output in enumerate(outputs):
        data = output.encode("utf-8", "surrogateescape") if isinstance(output, str) else bytes(output or b"")
        blobs.append((f"output[{index}]", data))
    for secret in secrets:
        for form_name, form in leak_forms(secret).items():
            for where, data in blobs:
                if form in data:
                    leaks.append(f"{form_name} form of a planted secret ({secret[:6]}...) found in {where}")
    return leaks


def assert_no_leak(secrets, home: Path | None = None, outputs=()) -> None:
    leaks = find_leaks(secrets, home, outputs)
    assert not leaks, "\n".join(leaks)
