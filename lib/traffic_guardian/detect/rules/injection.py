"""Inbound INJECTION rules: payloads that would run code if the agent followed them.

These scan responses and server-to-client messages: fetched pages, tool results and LLM
output. Precision matters: an answer that explains 'rm -rf ./build' or shows a curl
command without a pipe into a shell is normal and must stay silent.
"""

from __future__ import annotations

from . import INJECTION, Rule
from .validators import (
    downloader_earlier_on_line,
    none_earlier_on_line,
    not_a_loopback_port_probe,
    recursive_rm,
    runs_the_chmodded_file,
)

IN = "inbound"
_SHELLS = r"(?:ba|z|da|k|c|tc|fi|a)?sh"
_SUDO = r"(?:sudo(?:[ \t]+-[A-Za-z]{1,8}){0,4}+[ \t]+)?"
# Interpreters that run a script read from stdin just like a shell does (curl ... | python3 -).
_INTERPRETERS = r"(?:python[23]?(?:\.\d{1,2})?|perl|ruby|node|php)"
# ... unless told to run inline code or a module, when stdin is only their data:
# `| python3 -m json.tool`, `| python3 -c 'import json,sys; ...'`, `| sh -c 'wc -l'`.
_STDIN_AS_DATA = r"(?![ \t]++-(?:m|c|e|E)\b)"


# Up to n whitespace-separated arguments, each a possessive run: the regex tries at most n
# argument boundaries per anchor instead of every character of a '[^\n]{0,200}?' window.
def _args(n: int, char_class: str = r"[^\s|;&]") -> str:
    return rf"(?:[ \t]++{char_class}{{1,200}}+){{0,{n}}}?"


def _inject(pattern, variant, severity, regex, keywords, description, validate=None):
    return Rule(
        pattern=pattern, variant=variant, threat_type=INJECTION, direction=IN, severity=severity,
        description=description, regex=regex, keywords=keywords, validate=validate,
    )


PIPE_TO_SHELL = (
    _inject("pipe_to_shell", "download_pipe", "high",
            r"\|[ \t]*" + _SUDO + r"(?:env[ \t]+)?(?:/usr)?(?:/(?:local/)?bin/)?(?:" + _SHELLS + "|"
            + _INTERPRETERS + r")(?![\w.-])" + _STDIN_AS_DATA,
            ("|",), "download piped into a shell or interpreter (curl ... | sh)", validate=downloader_earlier_on_line),
    _inject("pipe_to_shell", "process_substitution", "high",
            r"(?:\b(?:" + _SHELLS + r"|source)|(?<![^\s;&|(])\.)[ \t]+<\([ \t]*(?:curl|wget)\b", ("<(",),
            "shell reading a download through process substitution (bash <(curl ...))"),
    _inject("pipe_to_shell", "command_substitution", "high",
            r"\b" + _SHELLS + r"[ \t]+-c[ \t]+[\"']?\$\([ \t]*(?:curl|wget)\b", ("$(",),
            "shell running a downloaded script (sh -c \"$(wget -qO- ...)\")"),
    _inject("pipe_to_shell", "powershell_download_exec", "high",
            # Possessive blanks: '[ \t]*\(?[ \t]*' would split a run of spaces every possible way (quadratic).
            r"(?i:\b(?:iex|invoke-expression)\b[ \t]*+\(?[ \t]*+(?:\(?[ \t]*+new-object[ \t]++net\.webclient\)?"
            r"\.downloadstring|iwr|invoke-webrequest|irm|invoke-restmethod)\b)",
            ("iex", "invoke-expression"), "PowerShell download-and-execute (iex (iwr ...))"),
)

SHELL_EXEC = (
    _inject("shell_exec", "base64_decode_exec", "high",
            r"base64[ \t]+(?:-d|--decode|-D)\b[^|\n]{0,200}+\|[ \t]*" + _SUDO + _SHELLS + r"(?![\w.-])",
            ("base64",), "base64-decoded payload piped into a shell"),
    _inject("shell_exec", "eval_download", "high",
            r"\beval[ \t]+[\"']?\$\([ \t]*(?:curl|wget|echo[ \t][^)|\n]{0,300}+\|[ \t]*base64)\b", ("eval",),
            "eval of downloaded or base64-decoded text"),
    _inject("shell_exec", "python_c_exec", "high",
            r"\bpython[23]?(?:\.\d{1,2})?[ \t]+-c[ \t]+[\"'][^\"'\n]{0,300}?(?:os\.system|subprocess\.|pty\.spawn|"
            r"exec\(|__import__\()", ("-c",), "python -c running a system command"),
    _inject("shell_exec", "download_chmod_run", "high",
            r"\bchmod[ \t]+(?:\+x|[0-7]?7[0-7][0-7])[ \t]+(?P<path>/tmp/[\w./-]{1,128}|/dev/shm/[\w./-]{1,128})"
            r"[ \t]*(?:&&|;)[ \t]*(?:\.?/tmp/|/dev/shm/)", ("chmod",), "make a dropped file executable and run it"),
    # Bounded blank runs ({0,8}, not *): Hyperscan 0.9.1 missed this gate's match with `*` there.
    _inject("shell_exec", "download_then_run", "high",
            r"\b(?:curl|wget)\b[^\n]{0,400}?(?:&&|;)[ \t]{0,8}+chmod[ \t]{1,8}+"
            r"(?:[ugoa]{0,3}\+[rwx]{0,2}x[rw]{0,2}|[0-7]{3,4})"
            r"[ \t]{1,8}+[\"']?(?P<file>[\w./~$-]{1,128}+)[\"']?[ \t]{0,8}+(?:&&|;)[ \t]{0,8}+"
            r"(?:sudo[ \t]{1,8}+)?[\"']?"
            r"(?P<run>(?:\./|/|~/|\$\w{1,32}/)?[\w./-]{1,128}+)", ("chmod",),
            "a download made executable and run, whatever the file is called (wget URL && chmod +x f && ./f)",
            validate=runs_the_chmodded_file),
    _inject("shell_exec", "powershell_encoded", "high",
            # -e, -ec and every prefix of -EncodedCommand (-en, -enc, ...); not -ExecutionPolicy.
            r"(?i:\bpowershell(?:\.exe)?" + _args(12, r"\S") + r"[ \t]++[-/]e(?:c|n[a-z]{0,12}+)?[ \t]++)"
            r"[A-Za-z0-9+/=]{20,}",
            ("powershell",), "PowerShell encoded command"),
)

REVERSE_SHELL = (
    _inject("reverse_shell", "dev_tcp", "critical", r"/dev/(?:tcp|udp)/(?P<host>[A-Za-z0-9.:-]{1,253})/\d{1,5}",
            ("/dev/tcp/", "/dev/udp/"), "shell redirected to a network socket (bash -i >& /dev/tcp/h/p)",
            validate=not_a_loopback_port_probe),
    _inject("reverse_shell", "netcat_exec", "critical",
            r"\b(?:nc|ncat|netcat)(?:\.\w{1,12})?" + _args(8) + r"[ \t]++(?:-e|-c|--exec|--sh-exec|--lua-exec)"
            r"[ \t]+[\"']?(?:/bin/|/usr/bin/)?(?:" + _SHELLS + r"|cmd(?:\.exe)?|powershell)\b",
            ("nc", "netcat"), "netcat or ncat executing a shell"),
    _inject("reverse_shell", "mkfifo_netcat", "critical",
            r"\bmkfifo[ \t]++\S{1,128}+(?:[^\n|]{0,200}+\|[ \t]*+){1,4}?(?:nc|ncat|netcat|openssl[ \t]+s_client)\b",
            ("mkfifo",), "named-pipe shell relayed over netcat"),
    _inject("reverse_shell", "socat_exec", "critical",
            r"(?i:\bsocat" + _args(8, r"\S") + r"[ \t]++[\"']?(?:exec|system):)", ("socat",),
            "socat relaying a process over the network"),
    _inject("reverse_shell", "python_socket_pty", "critical",
            r"socket\.socket\([^\n]{0,400}?(?:pty\.spawn|os\.dup2|subprocess\.call)", ("socket.socket",),
            "Python socket wired to a pty or shell"),
    _inject("reverse_shell", "ruby_socket", "critical",
            r"\bruby\b[^\n]{0,60}?-e[^\n]{0,300}?\bTCPSocket\b[^\n]{0,300}?\b(?:exec|spawn|system|IO\.popen)\b",
            ("tcpsocket",), "Ruby socket reverse shell"),
    _inject("reverse_shell", "node_socket", "critical",
            r"\bnode\b[^\n]{0,40}?-e[^\n]{0,600}?(?:require\([\"']net[\"']\)|\bnet\.(?:connect|Socket)\b)"
            r"[^\n]{0,600}?\bchild_process\b|\bnode\b[^\n]{0,40}?-e[^\n]{0,600}?\bchild_process\b[^\n]{0,600}?"
            r"(?:require\([\"']net[\"']\)|\bnet\.(?:connect|Socket)\b)", ("child_process",),
            "Node.js socket wired to a shell"),
    _inject("reverse_shell", "perl_php_socket", "critical",
            r"(?:\bperl\b[^\n]{0,40}?-e[^\n]{0,300}?\bsocket\b[^\n]{0,300}?\bexec\b|\bfsockopen\([^\n]{0,300}?"
            r"(?:exec|shell_exec|system|proc_open)\b)", ("perl", "fsockopen"), "Perl or PHP socket reverse shell"),
)

DESTRUCTIVE = (
    _inject("destructive_rm", "rm_root_or_home", "critical",
            r"\brm[ \t]+(?P<opts>(?:-{1,2}[A-Za-z][\w-]{0,40}[ \t]+){1,6}+)(?:--[ \t]+)?[\"']?"
            r"(?:/|/\*|(?:~|\$HOME|\$\{HOME\})[\"']?(?:/(?:\*|\.\*|\.\?\?\*|\.\[!.\]\*|\.\[\^.\]\*)?)?|"
            r"/(?:etc|usr|var|home|boot|bin|sbin|lib|lib64|opt|root|srv)/?\*?)[\"']?(?=[ \t]*(?:$|[;&|)\n#\"'`]))",
            ("rm ",), "recursive rm of /, a system directory or the home directory", validate=recursive_rm),
    _inject("destructive_rm", "no_preserve_root", "critical", r"\brm[ \t][^\n]{0,100}?--no-preserve-root\b",
            ("--no-preserve-root",), "rm with --no-preserve-root"),
    _inject("destructive_rm", "disk_wipe", "critical",
            r"\b(?:mkfs(?:\.\w{2,8})?[ \t]+(?:-\S{1,16}[ \t]+){0,4}/dev/(?:sd|nvme|vd|hd|xvd|mmcblk)\w{0,8}|"
            r"dd[ \t]+if=/dev/(?:zero|u?random)[ \t]+of=/dev/(?:sd|nvme|vd|hd|xvd|mmcblk)\w{0,8})",
            ("mkfs", "dd "), "filesystem creation or dd over a disk device"),
    _inject("destructive_rm", "fork_bomb", "high", r":\(\)[ \t]*\{[ \t]*:[ \t]*\|[ \t]*:[ \t]*&[ \t]*\}[ \t]*;[ \t]*:",
            (":()",), "shell fork bomb"),
)

_KEY_TYPES = (r"(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp(?:256|384|521)"
              r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)")
_AUTH_KEYS = r"[\"']?(?:~|\$HOME|\$\{HOME\}|/root|/home/[\w.-]{1,64})?/?\.ssh/authorized_keys2?\b"

SSH_KEY_INJECT = (
    _inject("ssh_key_inject", "key_appended", "critical",
            _KEY_TYPES + r"[ \t]+AAAA[A-Za-z0-9+/]{20,1000}+={0,3}[^\n]{0,300}?(?:>>?|\btee[ \t]+-a)[ \t]*"
            + _AUTH_KEYS, ("authorized_keys",), "public key written into authorized_keys"),
    _inject("ssh_key_inject", "append_authorized_keys", "high",
            r"(?:>>|\btee[ \t]+(?:-a|--append))[ \t]*" + _AUTH_KEYS, ("authorized_keys",),
            "append to an authorized_keys file", validate=none_earlier_on_line(_KEY_TYPES + r"[ \t]+AAAA")),
)

INJECTION_RULES = (*PIPE_TO_SHELL, *SHELL_EXEC, *REVERSE_SHELL, *DESTRUCTIVE, *SSH_KEY_INJECT)
