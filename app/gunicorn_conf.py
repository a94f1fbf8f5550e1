"""Gunicorn settings shared by the Procfile and `make run`; values come from the environment."""

import os

from gunicorn.glogging import Logger


class SafeAccessLogger(Logger):
    """Gunicorn's logger with every access-log value escaped: the path is logged decoded, so a
    %0D%0A in a URL would otherwise forge a log line of the client's choosing."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        values = super().atoms(resp, req, environ, request_time)
        return {
            k: v.encode("unicode_escape").decode("ascii") if isinstance(v, str) else v
            for k, v in values.items()
        }


bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
max_requests = 1000
max_requests_jitter = 100
accesslog = "-"
# The path without its query string: signed download links carry their signature there, and a
# link in a log is a credential until it expires. No Referer either (it may hold such a link).
logger_class = SafeAccessLogger
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = os.environ.get("YBB_LOG_LEVEL", "info").lower()

# Gunicorn >= 25 opens a control socket at one fixed per-user path by default, so two servers
# (tests, several apps on one host) would fight over it. Off unless a path is given.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket
