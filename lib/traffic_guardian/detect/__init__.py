"""The detection engine: an Exchange in, redacted Findings out, and everything that turns one into the other."""
