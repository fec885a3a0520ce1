"""Personal API tokens: what tools (dicomweb-client, Weasis, 3D Slicer, scripts) send as
``Authorization: Bearer TOKEN`` instead of a browser session.

A token is ``dwp_`` + 43 random URL-safe characters (``secrets.token_urlsafe(32)``); only
its SHA-256 is stored, with a short prefix to recognise it on the tokens page. A token
acts as its owner: it reaches exactly what the owner's pages reach, while the owner is
active, until it expires or is revoked. ``tokens`` holds the model's logic, ``views`` the
page (``/account/tokens/``), ``management/commands/api_token.py`` the command line.
"""
