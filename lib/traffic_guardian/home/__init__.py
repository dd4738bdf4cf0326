"""The guardian home and the files in it: config, findings log, counters, egress, run files, trust."""
