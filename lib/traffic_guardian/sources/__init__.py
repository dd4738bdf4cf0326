"""Inputs of the offline scanner other than raw text.

Owns: HAR 1.2 captures turned into Exchanges (har), the offline twin of what the addon
builds from live flows.

May import: detect, home, picoclaw and cli. Not proxy, report or control.
"""
