"""Turning retrieved passages into a safe, cited, routed and cached reply."""
