"""Reading the operator's PicoClaw files, read-only: which secrets it holds and where each goes.

Owns: the reader of config.json, .security.yml and auth.json (config_files, which runs
v3_layout for the current schema and legacy_layout for v0-v2, fills secret_fields'
collector, resolves file:// and enc:// with secure_values and PICOCLAW_* variables with
env_overrides; yaml_subset parses .security.yml), the table of where PicoClaw sends each
secret (bindings), the coverage report of its egress paths (egress_paths), and the watch
that keeps the engine's known secrets current as those files change (secrets_watch, which
also builds the engine every front end runs).

May import: detect and the standard library (and, lazily, the cryptography package that
mitmproxy brings, to open enc:// values). Not home (its sibling), nor anything above.
"""
