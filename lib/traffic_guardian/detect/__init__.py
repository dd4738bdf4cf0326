"""The detection engine: an Exchange in, redacted Findings out. Every front end calls it.

Owns: the Exchange and Finding records, splitting an exchange into parts and decoded
views (decode, smuggling, content_encoding), the rules as data (rules/) and the
prefilter that picks which can match (prefilter, gate_syntax), credential binding
(providers), matching the operator's own secrets by value (known_secrets), LLM stream
reassembly as input shaping (stream_framing, llm_streams), the egress allowlist verdict
(egress_policy), and redaction (redact).

May import: the standard library, hyperscan (optional), and `traffic_guardian` itself
(version and schema names). Nothing from proxy, home, picoclaw, report, sources,
control or cli: the engine reads no file, so it runs the same live and offline.
"""
