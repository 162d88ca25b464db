"""Serving the app: the `calf-cds serve` runner (`server`), the WSGI wrapper it serves
(`wsgi`) and its gunicorn workers (`worker`)."""
