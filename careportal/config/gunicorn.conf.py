"""gunicorn's settings for CarePortal's web processes, every one read from the environment (docs/deployment.md).

    gunicorn -c careportal/config/gunicorn.conf.py careportal.config.wsgi

gthread workers: each process runs WEB_THREADS requests at once in threads and holds up to that many database
connections; size PostgreSQL's max_connections for machines x WEB_PROCESSES x WEB_THREADS plus the other processes.
Command-line options given after `-c` still win over these.
"""

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Where to listen: the reverse proxy forwards here. WEB_BIND takes any gunicorn address ("unix:/run/careportal.sock").
bind = [os.environ.get("WEB_BIND", "").strip() or f"127.0.0.1:{_int('WEB_PORT', 8000)}"]
worker_class = "gthread"
# WEB_CONCURRENCY is the name platforms (and gunicorn itself) use for the number of processes.
workers = _int("WEB_PROCESSES", _int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1)))
# Two threads a process: CarePortal's pages are mostly Python (a few short queries, then the template), and threads
# of one process share one interpreter lock, so more of them only make each request wait its turn longer. Measured
# with bench/bench_web.py on 2 cores, 2 processes: the results page's p95 was 100-110 ms with 2 threads against
# 150-190 ms with 8, at the same or a higher rate (docs/deployment.md, "Sizing the web processes").
threads = _int("WEB_THREADS", 2)
# Connections one process holds at once, kept-alive ones included (gunicorn's default: 1000). A process that has
# this many accepts no more, so a few long-lived connections spread over the processes instead of piling onto the
# one that happened to accept them first. It must stay above WEB_THREADS, or gunicorn closes every connection after
# its request; and WEB_PROCESSES x this must stay above the connections the proxy keeps open plus the requests in
# flight, or a new connection waits until a kept one is closed.
worker_connections = _int("WEB_WORKER_CONNECTIONS", 1000)
if worker_connections <= threads:
    raise SystemExit(
        f"WEB_WORKER_CONNECTIONS ({worker_connections}) must be more than WEB_THREADS ({threads}): "
        "at or below it gunicorn closes every connection after one request"
    )
# A request still running after this long is stopped (its worker restarted). Pages answer in well under a second;
# the slowest, a record download, is built by a task worker, not here.
timeout = _int("WEB_TIMEOUT_SECONDS", 30)
# On SIGTERM (a deploy or scale-down): stop accepting, let requests in progress finish for this long, then exit.
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT_SECONDS", 30)
# Keep-alive connections from the reverse proxy: a little longer than nginx's upstream keepalive_timeout would
# close them, so gunicorn never closes one that nginx is about to reuse.
keepalive = _int("WEB_KEEPALIVE_SECONDS", 75)
# Restart each process after about this many requests (with jitter, so they do not all restart at once); 0: never.
max_requests = _int("WEB_MAX_REQUESTS", 1000)
max_requests_jitter = _int("WEB_MAX_REQUESTS_JITTER", 100)
# Connections waiting for a thread. Under a login storm requests queue here briefly instead of being refused.
backlog = _int("WEB_BACKLOG", 2048)
# No access log: its usual format writes the full request line, query string included, and CarePortal already logs
# every request without it (django-structlog; docs/operations.md, "Logs"). Request bodies are never logged.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info").strip() or "info"
# gunicorn itself trusts X-Forwarded-Proto only from these addresses (Django decides for itself through
# SECURE_PROXY_SSL_HEADER); the proxy's address, or "*" when gunicorn listens only on a private address or socket.
forwarded_allow_ips = os.environ.get("WEB_FORWARDED_ALLOW_IPS", "127.0.0.1,::1").strip()
# In a container, point this at a memory file system (/dev/shm): workers' heartbeat files live here.
worker_tmp_dir = os.environ.get("WEB_WORKER_TMP_DIR", "").strip() or None
