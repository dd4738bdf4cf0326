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
    """This process is the supervisor; the proxy runs as its child (supervisor.py)."""
    from traffic_guardian.home.guardian_home import GuardianHome
    from traffic_guardian.proxy.supervisor import Supervisor

    home = option_value(argv, "guardian_home")
    return Supervisor(Path(__file__).resolve(), argv, GuardianHome(Path(home)) if home else None).run()


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
        return engine_from_config(config, redactor, use_hyperscan=False).redact_text
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
