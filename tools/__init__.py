"""Project tools: the Debian packages make test needs (system-packages.sh) and the docs' results tables (tables.py)."""
