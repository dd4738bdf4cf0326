"""Starting and scoping the monitor.

Owns: the launch start.py runs (launch: the monitor process, its run files, trust
material) and the environment handed to the one scoped child (proxy_env).

May import: detect, home, picoclaw and cli. Not proxy (it starts the monitor by the
path of its entry file, never by import), report or sources.
"""
