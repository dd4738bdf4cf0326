"""Starting and scoping the monitor: the launch start.py runs and the one child's environment."""
