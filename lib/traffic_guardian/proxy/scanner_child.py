"""The scanner process: the engine on a second core, answering the monitor's frames.

Run as `python scanner_child.py --home H [--config C] [--ring-fd N]`: the same config and
fingerprint key, so its snippets are the ones the monitor would write. It never prints
(stderr is discarded; a failed scan comes back as a message its engine redacted), ignores
SIGINT (a Ctrl-C reaches the whole foreground process group; the monitor decides when
scanning ends), and exits when its stdin closes, so it never outlives the monitor.
"""

from __future__ import annotations

import argparse
import mmap
import os
import pickle
import select
import signal
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # run as a script: make `traffic_guardian` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from traffic_guardian.proxy import heap  # noqa: E402
from traffic_guardian.proxy.body_ring import read_body  # noqa: E402
from traffic_guardian.proxy.scan_frames import ANSWER_LENGTH, EXCHANGE_HEAD, decode  # noqa: E402

IDLE_TRIM_SECS = 1.0  # the child trims its heap once its input has been quiet this long after work
_ANSWER_DELAY_SECS = 0.001  # how long the child may hold answers back to write several at once


def serve(engine, stdin_fd: int, stdout_fd: int, ring: mmap.mmap | None = None) -> None:
    """Answer frames until stdin closes: Exchange in, (findings, uses, error) out.

    Reads whatever has arrived and scans every whole frame in it, writing the answers
    together once about a millisecond has passed since the first one held (and at the end
    of what was read): a burst costs the monitor a few wake-ups, not one per answer, and
    an answer is never held long, since the monitor needs it to free in-flight room.

    Once the frames stop coming for IDLE_TRIM_SECS after some work, the heap is trimmed:
    glibc otherwise keeps what a burst of bodies took (about 2 MB after 4,000 requests)."""
    buffer = bytearray()
    worked = False
    while True:
        if worked and not select.select([stdin_fd], [], [], IDLE_TRIM_SECS)[0]:
            heap.trim()
            worked = False
        data = os.read(stdin_fd, 1 << 20)
        if not data:
            return
        buffer += data
        answers, offset, first = [], 0, 0.0
        while len(buffer) - offset >= EXCHANGE_HEAD.size:
            meta_length, body_length, ring_offset = EXCHANGE_HEAD.unpack_from(buffer, offset)
            meta_end = offset + EXCHANGE_HEAD.size + meta_length
            end = meta_end + (body_length if ring_offset < 0 else 0)
            if len(buffer) < end:
                break
            raw = bytes(buffer[meta_end:end]) if ring_offset < 0 else read_body(ring, ring_offset, body_length)
            payload = pickle.dumps(_answer(engine, buffer[offset + EXCHANGE_HEAD.size : meta_end], raw),
                                   protocol=pickle.HIGHEST_PROTOCOL)
            answers += (ANSWER_LENGTH.pack(len(payload)), payload)
            offset = end
            now = time.monotonic()
            if len(answers) == 2:
                first = now
            elif now - first >= _ANSWER_DELAY_SECS:  # the monitor needs answers to free in-flight room
                _write_all(stdout_fd, b"".join(answers))
                answers = []
        del buffer[:offset]
        if answers:
            _write_all(stdout_fd, b"".join(answers))
        worked = True


def _answer(engine, meta: bytearray, raw: bytes) -> tuple:
    try:
        return engine.scan(decode(meta, raw)), dict(engine.expected_uses), None
    except Exception as exc:  # reported by the monitor, redacted here where the engine is
        return [], dict(engine.expected_uses), engine.redact_text(f"{type(exc).__name__}: {exc}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The monitor's scanner process (started by the addon; reads "
                                                 "exchanges on stdin, answers findings on stdout; never prints).")
    parser.add_argument("--home", required=True, help="guardian home")
    parser.add_argument("--config", help="config file (default: the usual lookup)")
    parser.add_argument("--ring-fd", type=int, help="inherited memfd holding bodies the frames point into")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from traffic_guardian.detect.redact import Redactor
    from traffic_guardian.home.config import load_config
    from traffic_guardian.picoclaw.secrets_watch import engine_from_config

    env = dict(os.environ, PICOCLAW_TRAFFIC_GUARDIAN_HOME=args.home)
    config = load_config(args.config, env)
    from traffic_guardian.home.scoped_processes import gateway_environ

    engine = engine_from_config(config, Redactor(config.home.fingerprint_key(create=True)),
                                environ=lambda: gateway_environ(config.home))
    engine.prefilter.compile(in_fork=True)  # Hyperscan's compiler never enters this long-lived process
    heap.trim()  # what building the engine freed
    ring = mmap.mmap(args.ring_fd, 0, prot=mmap.PROT_READ) if args.ring_fd is not None else None
    serve(engine, sys.stdin.fileno(), sys.stdout.fileno(), ring)
    return 0


if __name__ == "__main__":
    sys.exit(main())
