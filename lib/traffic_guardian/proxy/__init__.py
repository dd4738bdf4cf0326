"""What runs inside or beside mitmdump: the addon, the monitor process and the scanner process."""
