"""Canary sweep: prove that planted secrets appear nowhere they must not.

After a test run, search every file under the guardian home and every captured output
for each planted secret in raw, URL-encoded (either case, + for space), JSON-escaped,
base64 and base64url forms; then read each blob as a person would (JSON, percent and HTML
escapes undone, however nested) and look for any RUN-character run of the secret, so a
secret spelled with escapes, or a part of one, is found too. Every end-to-end test calls
assert_no_leak with what it planted.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

RUN = 12  # characters of a secret that count as a leak of it


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
    readable = [(where, read_as_a_person_would(data.decode("latin-1"))) for where, data in blobs]
    for secret in secrets:
        for form_name, form in leak_forms(secret).items():
            for where, data in blobs:
                if form in data:
                    leaks.append(f"{form_name} form of a planted secret ({secret[:6]}...) found in {where}")
        for where, text in readable:
            run = next((run for run in runs_of(secret) if run in text), None)
            if run is not None:
                leaks.append(f"a {RUN}-character run of a planted secret ({secret[:6]}...) found in {where}, "
                             "once its escapes are undone")
    return leaks


def runs_of(secret: str) -> list[str]:
    """Every RUN-character run of the secret that holds more than a public prefix could show."""
    return [secret[i:i + RUN] for i in range(len(secret) - RUN + 1) if secret[i:i + RUN].strip("-=\n")]


def read_as_a_person_would(text: str) -> str:
    """Undo escapes a reader decodes in their head: JSON (any depth), percent, HTML entities."""
    if "\\" not in text and "%" not in text and "&" not in text:
        return text
    for _ in range(4):
        text = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        text = re.sub(r"\\+([\"\\/])", r"\1", text).replace("\\n", "\n")
        text = html.unescape(unquote(text))
    return text


def assert_no_leak(secrets, home: Path | None = None, outputs=()) -> None:
    leaks = find_leaks(secrets, home, outputs)
    assert not leaks, "\n".join(leaks)
