"""Reading the operator's PicoClaw files: its config, its secrets and where each is sent."""
