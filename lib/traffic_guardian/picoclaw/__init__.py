"""Reading the operator's PicoClaw files, read-only: which secrets it holds and where each goes.

Owns: the reader of config.json and .security.yml (config_files, yaml_subset), the
table of where PicoClaw sends each secret (bindings), and the watch that keeps the
engine's known secrets current as those files change (secrets_watch, which also builds
the engine every front end runs).

May import: detect and the standard library. Not home (its sibling), nor anything above.
"""
