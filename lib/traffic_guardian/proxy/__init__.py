"""What runs inside or beside mitmdump: the addon, the monitor process, the scanner process.

Owns: the addon mitmdump loads as a script (addon, runtime), the monitor entry that runs
mitmdump in-process with its output redacted (monitor, log_redaction), the hand-off to
the scanner process (deferred_scans, scan_process, scan_frames, body_ring,
scanner_child), reading header blocks and copying streamed bodies (message_head,
stream_copy), and giving freed heap back (heap).

May import: detect, home, picoclaw, cli, and mitmproxy (the only package that does).
Not report, sources or control: front ends are siblings.
"""
