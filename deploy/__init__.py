"""Production serving: nginx in front of gunicorn (``make serve-prod`` runs ``python -m deploy.serve``)."""
