"""Performance scripts: each prints a table and writes a JSON file; run as `python -m bench.<name>`."""
