#!/usr/bin/env python3
"""Instructions the proxy process executes per request, bare mitmdump against the monitor:
a figure the host's speed does not move.

Throughput ratios on this kind of host swing by tens of percent between rounds (a second
bare mitmdump against the first ranged x0.71-1.37 per round, see bench/ab.py --control),
so a change of a few percent cannot be seen in them. Valgrind's callgrind
counts the instructions a process executes, the same for the same work whatever else the
machine does. Each way runs under callgrind with instrumentation off until the load:

  1. warm-up requests (first connections, lazy imports, the scanner's start), then a pause;
  2. an idle window: what the process executes per second with no traffic (the monitor's
     counters flush, timers), which valgrind's slowness would otherwise charge to requests;
  3. the load window: REQUESTS sequential requests on one keep-alive connection, and a
     pause for the deferred hand-off and the scanner's answers;
  per request = (load - idle rate x load seconds) / requests.

Only the proxy process is counted: the monitor's scanner process runs natively on the other
core (its cost to the proxy is the hand-off and the answers, which are counted). This is
the proxy's own CPU work, the bottleneck at concurrency 32 (README Performance); it does
not see cache misses, which make the same instructions slower live.

  bench/instructions.py [--other PATH] [--requests N] [--scenario post_64k|get_small] [--dumps DIR]

--other PATH: another checkout of the bundle, counted as the way "other". Needs valgrind
(Debian package; installed with apt-get when missing and run as root). About 2-4 minutes.
Machine output: one JSON line on stdout; the table on stderr. Not run by CI.
Exit 0 after a run, 1 when a step fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proxy  # noqa: E402

WARMUP_REQUESTS = 30
SETTLE_SECS = 2.0
IDLE_SECS = 5.0
DRAIN_SECS = 1.0  # after the last request: the deferred hand-off (1 ms) and the answers
START_TIMEOUT_SECS = 300.0  # mitmdump under valgrind starts in 10-60 s
BODY = proxy.POST_BODY_BYTES * b"x"
SCENARIOS = {"post_64k": ("POST", "/echo"), "get_small": ("GET", "/small")}


class Callgrind:
    """One process under callgrind: zero its counters, run something, dump, read the total."""

    def __init__(self, pid: int, out: Path):
        self.pid = pid
        self.out = out  # --callgrind-out-file; each dump writes out.1, out.2, ...
        self.dumps = 0

    def count(self, action) -> tuple[int, float]:
        """Instructions executed while action() ran, and its seconds."""
        self._control("-z")
        self._control("-i", "on")
        started = time.monotonic()
        action()
        seconds = time.monotonic() - started
        self._control("-d")  # counts since the zero (switching instrumentation off first loses them)
        self.dumps += 1
        dump = self.out.with_name(f"{self.out.name}.{self.dumps}")
        for line in dump.read_text().splitlines():
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1]), seconds
        raise RuntimeError(f"no totals in {dump}")

    def _control(self, *args: str) -> None:
        done = subprocess.run(["callgrind_control", *args, str(self.pid)], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"callgrind_control {' '.join(args)} {self.pid}: {done.stderr.strip()[-200:]}")


def load(port: int, auth: tuple[str, str], upstream: int, method: str, path: str, count: int) -> None:
    """count requests through the proxy on one keep-alive connection, as a PicoClaw client would send them."""
    connection = http.client.HTTPConnection(proxy.LOOPBACK, port, timeout=300)
    headers = {"Host": f"{proxy.LOOPBACK}:{upstream}", "Content-Type": "application/json",
               "Proxy-Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()}
    try:
        for _ in range(count):
            connection.request(method, f"http://{proxy.LOOPBACK}:{upstream}{path}",
                               body=BODY if method == "POST" else None, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{method} {path} through the proxy answered {response.status}")
    finally:
        connection.close()


def monitor_under(stack: proxy.Stack, name: str, bundle: Path, prefix: tuple[str, ...]) -> tuple[int, int, tuple]:
    """The bundle's monitor, its own command line, run under prefix: started once with start.sh
    to learn that command line (whatever the bundle's version), stopped, started again under
    prefix with a fresh proxy user."""
    guardian = stack.guardian(name, {}, bundle=bundle)
    argv = [arg.decode() for arg in Path(f"/proc/{guardian['pid']}/cmdline").read_bytes().split(b"\0")[:-1]]
    home = guardian["home"]
    stack.stop_guardian(home)
    htpasswd = next(Path(arg.split("=@", 1)[1]) for arg in argv if arg.startswith("proxyauth=@"))
    htpasswd.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    auth = proxy.write_htpasswd(htpasswd)
    process = stack.spawn([*prefix, *argv], env=stack.guardian_env(home), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    proxy.wait_listening(guardian["port"], START_TIMEOUT_SECS)
    return guardian["port"], process.pid, auth


def measure(way: str, port: int, pid: int, auth: tuple, out: Path, upstream: int, scenario: str,
            requests: int) -> dict:
    method, path = SCENARIOS[scenario]
    counter = Callgrind(pid, out)
    load(port, auth, upstream, method, path, WARMUP_REQUESTS)
    time.sleep(SETTLE_SECS)
    idle, idle_seconds = counter.count(lambda: time.sleep(IDLE_SECS))

    def loaded() -> None:
        load(port, auth, upstream, method, path, requests)
        time.sleep(DRAIN_SECS)

    busy, busy_seconds = counter.count(loaded)
    idle_rate = idle / idle_seconds
    per_request = (busy - idle_rate * busy_seconds) / requests
    proxy.log(f"{way}: {per_request / 1e6:.2f} M instructions per request ({busy_seconds:.0f} s of load)")
    return {"instructions_per_request": round(per_request), "idle_instructions_per_s": round(idle_rate),
            "load_seconds": round(busy_seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--other", type=Path, help="another checkout of the bundle, counted as the way 'other'")
    parser.add_argument("--requests", type=int, default=100, help="requests in the load window (default 100)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="post_64k",
                        help="64 KiB POST with a 64 KiB answer (default), or a small GET")
    parser.add_argument("--dumps", type=Path, help="keep callgrind's files here (callgrind_annotate "
                                                   "DIR/callgrind-guardian.2 shows where the load window went)")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    if args.other is not None and not (args.other / "scripts" / "start.sh").is_file():
        parser.error(f"--other {args.other}: no scripts/start.sh there (a checkout of this bundle?)")
    valgrind = proxy.ensure_debian_tool("valgrind", "valgrind", "instruction counts")
    proxy.ensure_debian_tool("callgrind_control", "valgrind", "instruction counts")
    record: dict = {"bench": "instructions", "scenario": args.scenario, "requests": args.requests}
    with tempfile.TemporaryDirectory(prefix="tg-instr-") as tmp:
        stack = proxy.Stack(Path(tmp))
        try:
            upstream = stack.upstream()

            dumps = args.dumps or Path(tmp)
            dumps.mkdir(parents=True, exist_ok=True)

            def under(way: str) -> tuple[tuple[str, ...], Path]:
                out = dumps.resolve() / f"callgrind-{way}"
                return (valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"), out

            prefix, out = under("bare")  # mitmdump is a script: valgrind runs its python
            port, pid, auth = stack.bare_mitmdump(prefix=(*prefix, proxy.PYTHON), timeout=START_TIMEOUT_SECS)
            record["bare"] = measure("bare", port, pid, auth, out, upstream, args.scenario, args.requests)
            others = [("other", args.other.resolve())] if args.other is not None else []
            for way, bundle in [*others, ("guardian", proxy.BUNDLE)]:
                prefix, out = under(way)  # the monitor's command line starts with its own python
                port, pid, auth = monitor_under(stack, way, bundle, prefix)
                record[way] = measure(way, port, pid, auth, out, upstream, args.scenario, args.requests)
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError, StopIteration) as exc:
            proxy.log(f"instruction count failed: {exc}")
            return 1
        finally:
            stack.close()
    bare = record["bare"]["instructions_per_request"]
    for way in ("other", "guardian"):
        if way in record:
            record[way]["vs_bare"] = round(record[way]["instructions_per_request"] / bare, 3)
    print(json.dumps(record))
    print(f"\nProxy process instructions per request ({args.scenario}, {args.requests} sequential requests, "
          "idle rate subtracted)", file=sys.stderr)
    for way in ("bare", "other", "guardian"):
        if way in record:
            ratio = f"  x{record[way]['vs_bare']:.3f} of bare" if way != "bare" else ""
            print(f"  {way:<9} {record[way]['instructions_per_request'] / 1e6:8.2f} M{ratio}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
