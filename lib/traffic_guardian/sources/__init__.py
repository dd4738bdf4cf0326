"""Inputs of the offline scanner other than raw text: HAR captures turned into Exchanges."""
