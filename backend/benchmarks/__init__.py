"""`make bench`: our service vs a bare ASGI floor vs the old Flask design, side by side."""
