"""moto[server] with every request applied one at a time.

moto's threaded server evaluates a DynamoDB condition and applies the write in separate
steps without a lock, so two concurrent conditional writes can both succeed; DynamoDB
itself applies each conditional write atomically. The HTTP server stays threaded (many
open connections), the backend sees one request at a time.

Usage: python tests/support_moto.py HOST PORT
"""
import os
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialized(environ, start_response):
    with lock:
        return list(app(environ, start_response))


run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)
