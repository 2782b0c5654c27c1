"""A small gRPC echo service (python3-grpcio, messages as raw bytes: no
generated code) for the gRPC tests. Methods of service echo.Echo:

  Unary    answers the request bytes; b"fail" fails with NOT_FOUND "no such
           thing"; every answer carries trailing metadata x-trailer: t1
  Slow     waits the number of milliseconds the request names, unless the
           call's deadline expires first
  Chat     bidirectional: answers each message at once, upper-cased
  Sink     client streaming: answers the count and total length of what came
"""
import time
from concurrent import futures

import grpc


def _unary(request, context):
    context.set_trailing_metadata((("x-trailer", "t1"),))
    if request == b"fail":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    return request


def _slow(request, context):
    deadline = time.monotonic() + int(request) / 1000
    while time.monotonic() < deadline:
        if not context.is_active():
            return b""
        time.sleep(0.01)
    return b"done"


def _chat(requests, context):
    for r in requests:
        yield r.upper()


def _sink(requests, context):
    n = total = 0
    for r in requests:
        n += 1
        total += len(r)
    return f"{n} {total}".encode()


class EchoServer:
    """Serves echo.Echo on a loopback port: plaintext HTTP/2 (h2c), or TLS
    with ALPN h2 when <cert> and <key> (PEM bytes) are given."""

    def __init__(self, cert=None, key=None):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(_unary),
            "Slow": grpc.unary_unary_rpc_method_handler(_slow),
            "Chat": grpc.stream_stream_rpc_method_handler(_chat),
            "Sink": grpc.stream_unary_rpc_method_handler(_sink),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", handlers),))
        if cert:
            creds = grpc.ssl_server_credentials(((key, cert),))
            self.port = self.server.add_secure_port("127.0.0.1:0", creds)
        else:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stop(self):
        self.server.stop(grace=None)
