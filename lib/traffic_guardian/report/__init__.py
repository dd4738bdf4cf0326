"""What reads the home for people and other skills.

Owns: the posture fragment for picoclaw-security-guardian (posture), the table and
text forms of findings (formatting), and query filters over the findings log
(finding_filter).

May import: detect, home, picoclaw and cli. Not proxy, sources or control.
"""
