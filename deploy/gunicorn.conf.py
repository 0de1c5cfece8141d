"""A gunicorn configuration for talkbox in production.

    TALKBOX_STORE=redis://127.0.0.1:6379/0 TALKBOX_SECRET_KEY=... \\
        gunicorn -c deploy/gunicorn.conf.py 'talkbox.web:create_app()'

* Threaded workers (``gthread``): every open event stream holds a thread for as long as the
  browser keeps its page open, so ``threads`` bounds the streams one worker can carry.
* Several workers (or several hosts) need the Redis store: it shares rooms and users between
  processes, and its event bridge brings every process's events to every other process's
  streams. With SQLite, run one worker.
* Behind a proxy or load balancer set ``TALKBOX_PUBLIC_URL`` to the public address: Twilio
  signatures are checked against it, not against the address gunicorn sees.
* Health: ``/healthz`` (liveness) and ``/readyz`` (store reachable, bridge running).
"""

import os

bind = os.environ.get("TALKBOX_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("TALKBOX_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("TALKBOX_THREADS", "64"))
# Event streams stay open for hours; the keep-alive comments keep proxies from closing them,
# and gunicorn must not kill a worker whose threads are all busy streaming.
timeout = 0
graceful_timeout = 10
keepalive = 75
# Access logs without query strings: stream URLs carry device ids, never secrets, but keep
# them out of logs anyway.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
# gunicorn 27's control socket sits at one fixed path per user: two talkbox servers on one host
# would fight over it, and talkbox does not use it.
control_socket_disable = True
