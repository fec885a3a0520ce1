"""gunicorn settings of the web process: ``gunicorn portal.wsgi -c python:portal.gunicorn_conf``
(Procfile, docker-compose.yml, Dockerfile).

The access log goes to stdout, through :class:`RedactingLogger`, which masks secret
tokens (share links, slice tokens, emailed links: ``portal/redact.py``) in every access
and error log line, whatever ``access_log_format`` is used.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from portal.redact import RedactTokens


class RedactingLogger(Logger):
    """gunicorn's logger with :class:`~portal.redact.RedactTokens` on both of its logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(item, RedactTokens) for item in log.filters):
                log.addFilter(RedactTokens())


logger_class = RedactingLogger
accesslog = "-"
# No runtime control socket (gunicorn ≥ 27): the portal does not use it, and several
# gunicorns on one machine (tests, a second instance) would share its default path.
control_socket_disable = True
