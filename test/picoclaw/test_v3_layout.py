"""PicoClaw config schema v3 read field by field, as current PicoClaw reads it (SPEC.md section 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fakes
from picoclaw_v3_home import picoclaw_encrypt, to_yaml
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.picoclaw.config_files import read_picoclaw
from traffic_guardian.picoclaw.secrets_watch import KnownSecretsWatch


def home_with(tmp_path: Path, config: dict, security: dict | None = None, name: str = "picoclaw") -> Path:
    home = tmp_path / name
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.json").write_text(json.dumps({"version": 3, **config}))
    if security is not None:
        (home / ".security.yml").write_text(to_yaml(security))
    return home


def found(home: Path, env: dict | None = None) -> dict:
    return {s.value: s for s in read_picoclaw(home, env or {}).secrets}


def test_the_channel_type_decides_the_binding_and_the_key_is_only_an_instance_name(tmp_path):
    ops, support, alerts = fakes.telegram_bot_token(), fakes.telegram_bot_token(), fakes.discord_bot_token()
    home = home_with(tmp_path, {"channel_list": {
        "ops": {"enabled": True, "type": "telegram", "settings": {}},
        "support": {"enabled": True, "type": "telegram", "settings": {"base_url": "https://tg.relay.example.net"}},
        "alerts": {"enabled": True, "type": "discord", "settings": {}},
    }}, {"channel_list": {"ops": {"settings": {"token": ops}}, "support": {"settings": {"token": support}},
                          "alerts": {"settings": {"token": alerts}}}})
    secrets = found(home)
    assert (secrets[ops].owner, secrets[ops].binding.hosts) == ("channel:ops", ("api.telegram.org",))
    assert secrets[support].binding.hosts == ("tg.relay.example.net",)  # base_url replaces the host
    assert secrets[support].binding.auth == ("path:/bot", "path:/file/bot")
    assert secrets[alerts].owner == "channel:alerts" and "gateway.discord.gg" in secrets[alerts].binding.hosts


@pytest.mark.parametrize(("entry", "hosts", "auth"), [
    ({"model": "gpt-5.4"}, ("api.openai.com",), ("header:authorization",)),  # unprefixed: openai
    ({"model": "meta-llama/llama-4"}, ("api.openai.com",), ("header:authorization",)),  # unknown prefix: openai
    ({"provider": "openrouter", "model": "anthropic/claude-opus-4.7"}, ("openrouter.ai",), ("header:authorization",)),
    ({"provider": "claude", "model": "claude-sonnet-4-6"}, ("api.anthropic.com",), ("header:authorization",)),
    ({"model": "anthropic-messages/claude"}, ("api.anthropic.com",), ("header:x-api-key",)),
    ({"model": "google/gemini-3-flash"}, ("generativelanguage.googleapis.com",), ("header:x-goog-api-key",)),
    ({"model": "z.ai/glm-5"}, ("api.z.ai",), ("header:authorization",)),
    ({"model": "qwen/qwen3.6-plus"}, ("dashscope.aliyuncs.com",), ("header:authorization",)),
    ({"model": "elevenlabs/scribe_v1"}, ("api.elevenlabs.io",), ("header:xi-api-key",)),
    ({"model": "mimo/mimo-v2"}, ("api.xiaomimimo.com",), ("header:authorization", "header:api-key")),
    ({"model": "ollama/llama3", "api_base": "http://10.0.0.5:11434/v1"}, ("10.0.0.5",), ("header:authorization",)),
])
def test_the_protocol_picoclaw_picks_decides_host_and_header(tmp_path, entry, hosts, auth):
    key = fakes.opaque_secret()
    home = home_with(tmp_path, {"model_list": [{"model_name": "m", **entry}]},
                     {"model_list": {"m:0": {"api_keys": [key]}}})
    binding = found(home)[key].binding
    assert (binding.hosts, binding.auth) == (hosts, auth)


def test_custom_header_values_are_bound_to_that_models_host_in_that_header(tmp_path):
    portkey = fakes.opaque_secret()
    home = home_with(tmp_path, {"model_list": [{"model_name": "m", "model": "openai/gpt", "api_base":
                                                "https://gw.example.net/v1", "custom_headers": {
                                                    "X-Portkey-Api-Key": portkey, "HTTP-Referer": "https://x.io"}}]})
    [secret] = read_picoclaw(home, {}).secrets
    assert (secret.value, secret.binding.hosts, secret.binding.auth) == (
        portkey, ("gw.example.net",), ("header:x-portkey-api-key",))


def test_file_references_are_watched_by_content_never_by_the_reference(tmp_path):
    key = fakes.opaque_secret()
    home = home_with(tmp_path, {"model_list": [{"model_name": "m", "model": "groq/llama"}]},
                     {"model_list": {"m:0": {"api_keys": ["file://keys/groq.txt"]}}})
    (home / "keys").mkdir()
    (home / "keys" / "groq.txt").write_text(f"  {key}\n")
    snapshot = read_picoclaw(home, {})
    assert [s.value for s in snapshot.secrets] == [key] and snapshot.unwatchable == []
    assert home / "keys" / "groq.txt" in snapshot.credential_files
    (tmp_path / "outside.txt").write_text(fakes.opaque_secret())
    (home / ".security.yml").write_text(to_yaml({"model_list": {"m:0": {"api_keys": ["file://../outside.txt",
                                                                                     "file://missing.txt"]}}}))
    snapshot = read_picoclaw(home, {})
    assert snapshot.secrets == []
    assert [u.reason.split(":")[0] for u in snapshot.unwatchable] == ["file", "file"]
    assert "leaves the config directory" in snapshot.unwatchable[0].reason
    (home / "etc").mkdir()
    (home / "etc" / "key").write_text(key)  # PicoClaw joins an absolute name onto the config directory too
    (home / ".security.yml").write_text(to_yaml({"model_list": {"m:0": {"api_keys": ["file:///etc/key"]}}}))
    assert [s.value for s in read_picoclaw(home, {}).secrets] == [key]


def test_enc_values_open_only_with_picoclaws_key_material_and_the_ciphertext_is_never_watched(tmp_path):
    key, passphrase = fakes.opaque_secret(), fakes.opaque_secret(20)
    ssh_key = tmp_path / "picoclaw_ed25519.key"
    ssh_key.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY----- test -----END OPENSSH PRIVATE KEY-----\n")
    sealed = picoclaw_encrypt(passphrase, ssh_key.read_bytes(), key)
    home = home_with(tmp_path, {"model_list": [{"model_name": "m", "model": "mistral/large"}]},
                     {"model_list": {"m:0": {"api_keys": [sealed]}}})
    env = {"PICOCLAW_KEY_PASSPHRASE": passphrase, "PICOCLAW_SSH_KEY_PATH": str(ssh_key)}
    assert [s.value for s in read_picoclaw(home, env).secrets] == [key]
    for broken, reason in [({"PICOCLAW_SSH_KEY_PATH": str(ssh_key)}, "PICOCLAW_KEY_PASSPHRASE is not set"),
                           ({**env, "PICOCLAW_KEY_PASSPHRASE": "wrong"}, "decryption failed"),
                           ({**env, "PICOCLAW_SSH_KEY_PATH": str(tmp_path / "none")}, "not readable")]:
        snapshot = read_picoclaw(home, broken)
        assert snapshot.secrets == []  # neither the ciphertext nor anything else is watched
        [unwatchable] = snapshot.unwatchable
        assert (unwatchable.owner, unwatchable.source) == ("model:m", ".security.yml") and reason in unwatchable.reason
        assert key not in unwatchable.reason and passphrase not in unwatchable.reason


def test_the_default_ssh_key_is_the_users_picoclaw_ed25519_key(tmp_path):
    key, passphrase = fakes.opaque_secret(), fakes.opaque_secret(20)
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "picoclaw_ed25519.key").write_bytes(b"key material")
    home = home_with(tmp_path, {"tools": {"web": {"kagi": {"enabled": True}}}},
                     {"web": {"kagi": {"api_keys": [picoclaw_encrypt(passphrase, b"key material", key)]}}})
    assert [s.owner for s in read_picoclaw(home, {"HOME": str(tmp_path), "PICOCLAW_KEY_PASSPHRASE": passphrase}
                                           ).secrets] == ["web:kagi"]


def test_environment_overrides_set_secrets_for_every_instance_of_a_type_and_move_hosts(tmp_path):
    token, brave1, brave2, wecom = (fakes.telegram_bot_token(), fakes.brave_search_key(), fakes.brave_search_key(),
                                    fakes.opaque_secret())
    home = home_with(tmp_path, {"channel_list": {
        "a": {"enabled": True, "type": "telegram", "settings": {}},
        "b": {"enabled": True, "type": "telegram", "settings": {}},
        "w": {"enabled": True, "type": "wecom", "settings": {"bot_id": "x"}},
    }, "tools": {"web": {"brave": {"enabled": True}, "tavily": {"enabled": True}}}})
    env = {"PICOCLAW_CHANNELS_TELEGRAM_TOKEN": token, "PICOCLAW_TOOLS_WEB_BRAVE_API_KEYS": f"{brave1}, {brave2}",
           "SECRET": wecom,  # WeCom's settings struct reads the bare name
           "PICOCLAW_TOOLS_WEB_TAVILY_BASE_URL": "https://tavily.corp.example.net/search"}
    snapshot = read_picoclaw(home, env)
    by_owner = sorted((s.owner, s.source) for s in snapshot.secrets)
    assert by_owner == [("channel:a", "env:PICOCLAW_CHANNELS_TELEGRAM_TOKEN"),
                        ("channel:b", "env:PICOCLAW_CHANNELS_TELEGRAM_TOKEN"), ("channel:w", "env:SECRET"),
                        ("web:brave", "env:PICOCLAW_TOOLS_WEB_BRAVE_API_KEYS"),
                        ("web:brave", "env:PICOCLAW_TOOLS_WEB_BRAVE_API_KEYS")]
    assert snapshot.environment_secrets == 5
    no_wecom = home_with(tmp_path, {"channel_list": {}}, name="other")
    assert read_picoclaw(no_wecom, {"SECRET": wecom}).secrets == []  # no wecom channel: not PicoClaw's SECRET
    assert "tavily.corp.example.net" in snapshot.egress_hosts and "api.tavily.com" not in snapshot.egress_hosts


def test_picoclaw_config_moves_both_files_and_auth_json_stays_in_the_home(tmp_path):
    moved = tmp_path / "etc" / "picoclaw"
    key, access = fakes.opaque_secret(), fakes.jwt()
    home_with(tmp_path, {"model_list": [{"model_name": "m", "model": "openai/gpt"}]},
              {"model_list": {"m:0": {"api_keys": [key]}}}, name="etc/picoclaw")
    home = tmp_path / "home"
    home.mkdir()
    (home / "auth.json").write_text(json.dumps({"credentials": {"openai": {"access_token": access,
                                                                           "auth_method": "oauth"}}}))
    snapshot = read_picoclaw(home, {"PICOCLAW_CONFIG": str(moved / "config.json")})
    assert sorted((s.owner, s.source) for s in snapshot.secrets) == [("auth:openai", "auth.json"),
                                                                     ("model:m", ".security.yml")]
    assert [Path(r.path).parent for r in snapshot.reports] == [moved, moved, home]
    token = {s.value: s for s in snapshot.secrets}[access]
    assert token.kind == "oauth_token" and "chatgpt.com" in token.binding.hosts


def test_webhook_channels_watch_the_url_path_at_its_own_host(tmp_path):
    url = fakes.slack_webhook_url()
    home = home_with(tmp_path, {"channel_list": {"hooks": {"enabled": True, "type": "slack_webhook",
                                                           "settings": {"webhooks": {"ops": {}}}}}},
                     {"channel_list": {"hooks": {"settings": {"webhooks": {"ops": {"webhook_url": url}}}}}})
    snapshot = read_picoclaw(home, {})
    path, token = snapshot.secrets
    assert url.endswith(path.value) and path.value.startswith("/services/")
    assert (path.binding.hosts, path.binding.auth) == (("hooks.slack.com",), ("url",))
    assert url.endswith("/" + token.value) and len(token.value) == 24  # its token part, watched alone too
    assert token.binding == path.binding and token.owner == path.owner == "channel:hooks"
    assert "hooks.slack.com" in snapshot.egress_hosts


def test_legacy_v2_files_are_still_read(tmp_path):
    token, key = fakes.telegram_bot_token(), fakes.deepseek_key()
    home = tmp_path / "legacy"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"version": 1, "channels": {"telegram": {"enabled": True,
                                                                                          "token": token}},
                                                  "providers": {"deepseek": {"api_key": key}}}))
    secrets = found(home)
    assert (secrets[token].owner, secrets[token].binding.hosts) == ("channel:telegram", ("api.telegram.org",))
    assert secrets[key].binding.hosts == ("api.deepseek.com",)
    assert read_picoclaw(home, {}).version == 1


def test_per_client_proxy_fields_are_bypasses_unless_they_point_at_the_monitor(tmp_path):
    home = home_with(tmp_path, {"model_list": [
        {"model_name": "corp", "model": "openai/gpt", "proxy": "http://corp-proxy.example.net:3128"},
        {"model_name": "ours", "model": "openai/gpt", "proxy": "http://127.0.0.1:18777"},
    ], "channel_list": {"tg": {"enabled": True, "type": "telegram", "settings": {"proxy": "socks5://10.0.0.9:1080"}},
                        "mq": {"enabled": True, "type": "mqtt", "settings": {"broker": "tcp://broker.lan:1883"}}}})
    lines = {line["owner"]: line for line in read_picoclaw(home, {}, ("127.0.0.1", 18777)).coverage()}
    assert lines["model:corp"]["route"] == "bypass" and "model_list[0].proxy" in lines["model:corp"]["reason"]
    assert lines["model:ours"]["route"] == "monitor"
    assert lines["channel:tg"]["route"] == "bypass" and "settings.proxy" in lines["channel:tg"]["advice"]
    assert lines["channel:mq"]["route"] == "bypass" and "raw TCP" in lines["channel:mq"]["reason"]


def test_a_changed_credential_file_or_variable_reloads_the_watch(tmp_path):
    first, second, third = fakes.opaque_secret(), fakes.opaque_secret(), fakes.opaque_secret()
    home = home_with(tmp_path, {"model_list": [{"model_name": "m", "model": "groq/llama"}]},
                     {"model_list": {"m:0": {"api_keys": ["file://groq.key"]}}})
    (home / "groq.key").write_text(first)
    now = [0.0]
    env = {}
    watch = KnownSecretsWatch(home, Redactor(b"k" * 32).fingerprint, check_secs=1, clock=lambda: now[0],
                              environ=lambda: dict(env))
    assert [s.value for s in watch.current().snapshot.secrets] == [first]
    (home / "groq.key").write_text(second + "\n# rotated")
    now[0] = 2.0
    assert [s.value for s in watch.current().snapshot.secrets] == [second + "\n# rotated"]
    env["PICOCLAW_TOOLS_WEB_GEMINI_API_KEY"] = third
    now[0] = 4.0
    assert third in {s.value for s in watch.current().snapshot.secrets} and watch.reloads == 2
