"""The torch baseline runs with gunicorn defaults, not the product's gunicorn.conf.py."""
