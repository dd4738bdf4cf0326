#!/usr/bin/env python3
"""Peer column for the detector benchmark: detect-secrets 1.5.0 on the same mixed corpus.

detect-secrets (Yelp) is the secret scanner most teams already know, so its speed on our
corpus puts our MB/s in proportion. It is installed by this script into its own venv,
bench/.peer-venv (never into the bundle's .venv, never imported here), and run in a child
process over the corpus written to a temporary directory, one file per document, with its
default plugins. Like ours, its throughput is CPU time of its one thread (time.thread_time)
around `SecretsCollection.scan_file`, a median over the same number of passes.

`measure(samples, runs)` returns {"tool", "version", "mb_per_s_cpu", "findings", "bytes"} or
{"tool", "error"} when it could not be installed or run (no network, say): the detector
benchmark then prints the reason instead of a ratio, never a made-up number.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PEER = "detect-secrets"
PEER_VERSION = "1.5.0"
VENV = Path(__file__).resolve().parent / ".peer-venv"

_RUNNER = r'''
import json, statistics, sys, time
from pathlib import Path
from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings
paths = sorted(Path(sys.argv[1]).iterdir())
runs = int(sys.argv[2])
total = sum(p.stat().st_size for p in paths)
rates, found = [], 0
with default_settings():
    for _ in range(runs):
        secrets = SecretsCollection()
        cpu = time.thread_time()
        for path in paths:
            secrets.scan_file(str(path))
        rates.append(total / (time.thread_time() - cpu) / 1e6)
        found = sum(len(v) for _, v in secrets.data.items())
print(json.dumps({"mb_per_s_cpu": round(statistics.median(rates), 3), "findings": found, "bytes": total}))
'''


def _python() -> Path:
    return VENV / "bin" / "python"


def ensure_installed() -> str | None:
    """None when bench/.peer-venv has detect-secrets PEER_VERSION; else why it could not be made."""
    check = [str(_python()), "-c", f"import importlib.metadata as m; assert m.version('{PEER}') == '{PEER_VERSION}'"]
    if _python().exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return None
    steps = [[sys.executable, "-m", "venv", str(VENV)],
             [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              f"{PEER}=={PEER_VERSION}"]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, timeout=600)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()[-1:]
            return f"{' '.join(step[:3])}... failed: {tail[0] if tail else 'no output'}"
    return None


def measure(texts: list[str], runs: int) -> dict:
    problem = ensure_installed()
    if problem:
        return {"tool": PEER, "version": PEER_VERSION, "error": problem}
    with tempfile.TemporaryDirectory(prefix="peer-corpus-") as directory:
        for index, text in enumerate(texts):
            (Path(directory) / f"doc{index:03d}.txt").write_text(text)
        result = subprocess.run([str(_python()), "-c", _RUNNER, directory, str(runs)], capture_output=True,
                                timeout=1800)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return {"tool": PEER, "version": PEER_VERSION, "error": f"run failed: {tail[0] if tail else 'no output'}"}
    return {"tool": PEER, "version": PEER_VERSION, **json.loads(result.stdout)}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import corpus

    print(json.dumps(measure([s.text for s in corpus.mixed_corpus()], runs=int(sys.argv[1]) if sys.argv[1:] else 3)))
