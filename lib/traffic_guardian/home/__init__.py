"""The guardian home and the files in it.

Owns: the home directory and its safe writes (guardian_home), the guardian config
(config), the findings log: writing, rotation and reading (writer, findings_log),
the live counters (counters), the egress inventory (egress_inventory), the pidfile and
state files that say which monitor runs (run_files), the CA fingerprint and trust
bundles (trust), and the known-secrets summary (secrets_summary).

May import: detect (the Finding record, exchange helpers) and the standard library.
Not picoclaw (its sibling), nor anything above.
"""
