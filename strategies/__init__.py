"""Example strategies. Copy one, change it, and point a config's `strategy` at it."""
