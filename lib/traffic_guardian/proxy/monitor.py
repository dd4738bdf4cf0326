"""The monitor process: mitmdump run in-process with every line of its output redacted.

scripts/start.py spawns `python monitor.py <mitmdump arguments>`: that process supervises
(supervisor.py) and runs `monitor.py --proxy <same arguments>`, the proxy. Running mitmdump inside a
Python process of ours (instead of the mitmdump executable) lets us put redaction in front
of everything it prints: sys.stdout and sys.stderr are replaced by RedactingStreams and
every LogRecord is redacted at creation, before mitmproxy is even imported. This file's
path in the command line is also how home/run_files.py recognises our monitor.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from traffic_guardian.proxy.log_redaction import LogRedactor, RedactingStream, install_record_factory  # noqa: E402
from traffic_guardian.proxy.supervisor import PROXY_FLAG  # noqa: E402


def supervise(argv: list[str]) -> int:
    """This process is the supervisor; the proxy runs as its child (supervisor.py), and the
    supervisor watches the scoped processes' sockets meanwhile (bypass_watch.py)."""
    from traffic_guardian.home.guardian_home import GuardianHome
    from traffic_guardian.proxy.supervisor import Supervisor

    home = option_value(argv, "guardian_home")
    guardian_home = GuardianHome(Path(home)) if home else None
    factory = (lambda own_pids: bypass_watch(argv, guardian_home, own_pids)) if guardian_home else None
    return Supervisor(Path(__file__).resolve(), argv, guardian_home, factory).run()


def bypass_watch(argv: list[str], home, own_pids):
    """The watch with this run's listener, config (dedup window, log) and PicoClaw's local hosts."""
    import time

    from traffic_guardian.home.config import load_config
    from traffic_guardian.home.writer import FindingWriter
    from traffic_guardian.picoclaw.config_files import read_picoclaw, resolve_picoclaw_home
    from traffic_guardian.proxy.bypass_watch import BypassWatch

    env = {**os.environ, "PICOCLAW_TRAFFIC_GUARDIAN_HOME": str(home.root)}
    config = load_config(option_value(argv, "guardian_config") or None, env)
    writer = FindingWriter.from_config(config)
    picoclaw_home = resolve_picoclaw_home(config.values.get("picoclaw_home"))
    hosts = {"at": 0.0, "value": ()}

    def expected_hosts():
        if time.monotonic() - hosts["at"] > 30:  # PicoClaw's config changes rarely: read it twice a minute
            snapshot = read_picoclaw(picoclaw_home) if config.values.get("known_secrets", "auto") is not False else None
            hosts.update(at=time.monotonic(), value=snapshot.egress_hosts if snapshot else ())
        return hosts["value"]

    def write(finding):
        try:
            writer.write(finding)
        except OSError as exc:
            print(f"monitor: cannot write a proxy_bypass finding: {exc.strerror or exc}", file=sys.stderr, flush=True)

    listen = (argv[argv.index("--listen-host") + 1], int(argv[argv.index("--listen-port") + 1]))
    return BypassWatch(home, listen, expected_hosts, write, config.dedup_window_secs, own_pids=own_pids)


def option_value(argv: list[str], name: str) -> str | None:
    """The value of `--set name=value` in a mitmdump argument list."""
    prefix = f"{name}="
    for index, arg in enumerate(argv):
        if arg == "--set" and index + 1 < len(argv) and argv[index + 1].startswith(prefix):
            return argv[index + 1][len(prefix):]
    return None


def secret_redactor(argv: list[str]):
    """Engine.redact_text with this home's fingerprint key, or None if the config cannot load
    (mitmdump will then fail too, and its error goes through the URL/field redaction)."""
    try:
        from traffic_guardian.detect.redact import Redactor
        from traffic_guardian.home.config import load_config
        from traffic_guardian.picoclaw.secrets_watch import engine_from_config

        env = dict(os.environ)
        home = option_value(argv, "guardian_home")
        if home:
            env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"] = home
        config = load_config(option_value(argv, "guardian_config") or None, env)
        redactor = Redactor(config.home.fingerprint_key(create=True))
        from traffic_guardian.home.scoped_processes import gateway_environ

        return engine_from_config(config, redactor, use_hyperscan=False,
                                  environ=lambda: gateway_environ(config.home)).redact_text
    except Exception:
        return None


def main(argv: list[str]) -> int:
    os.umask(0o077)  # the CA key, flows and anything mitmproxy writes: owner only
    if not argv or argv[0] != PROXY_FLAG:
        return supervise(argv)
    argv = argv[1:]
    redactor = LogRedactor(secret_redactor(argv))
    install_record_factory(redactor)
    stdout = RedactingStream(sys.stdout, redactor)
    stderr = RedactingStream(sys.stderr, redactor)
    sys.stdout, sys.stderr = stdout, stderr
    try:
        from mitmproxy.tools.main import mitmdump

        return mitmdump(argv) or 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        stdout.close_pending()
        stderr.close_pending()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
