"""How uvicorn serves subrelay: one set of options for `manage.py serve`, the bench and the tests, and an
HTTP protocol that refuses abuse before any of it reaches Django.

- A request's header block larger than HTTP_MAX_HEADER_BYTES or with more than HTTP_MAX_HEADERS fields
  is answered 431 and the connection closed, while it is still arriving.
- A connection that does not complete its request headers within HTTP_HEADER_TIMEOUT seconds (a
  silent or half-open connection, a slow drip of headers) is closed.
- Idle keep-alive connections close after `timeout_keep_alive`.
"""

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL = "config.server:LimitedHttpToolsProtocol"


def uvicorn_options() -> dict:
    return {
        "loop": "uvloop", "http": PROTOCOL, "lifespan": "on", "access_log": False, "timeout_keep_alive": 75,
        "log_level": "warning",
        # The client's address is core.clientip's to tell, from TRUSTED_PROXIES only; uvicorn would
        # otherwise believe X-Forwarded-For from any local peer.
        "proxy_headers": False,
    }


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport):
        super().connection_made(transport)
        self._refused = False
        self._start_header_clock()

    def _start_header_clock(self):
        self._header_bytes = 0
        self._header_count = 0
        self._tail = b""
        self._in_headers = True
        self._header_timer = self.loop.call_later(settings.HTTP_HEADER_TIMEOUT, self._headers_too_slow)

    def _stop_header_clock(self):
        self._in_headers = False
        timer, self._header_timer = getattr(self, "_header_timer", None), None
        if timer is not None:
            timer.cancel()

    def _headers_too_slow(self):
        self._header_timer = None
        if self._in_headers and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc):
        self._stop_header_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_headers and self._header_block_too_large(data):
            self._refuse_headers()
            return
        super().data_received(data)

    def _header_block_too_large(self, data: bytes) -> bool:
        """Counted before the parser sees the bytes, so an endless header block is never buffered."""
        window = self._tail + data
        end = window.find(b"\r\n\r\n")
        if end >= 0:
            return self._header_bytes + end + 4 - len(self._tail) > settings.HTTP_MAX_HEADER_BYTES
        self._header_bytes += len(data)
        self._tail = window[-3:]
        return self._header_bytes > settings.HTTP_MAX_HEADER_BYTES

    def _refuse_headers(self):
        self._refused = True
        self._stop_header_clock()
        body = b"Request header fields too large"
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:  # the next request on a kept-alive connection
            self._start_header_clock()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count <= settings.HTTP_MAX_HEADERS:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_header_clock()
        if self._header_count > settings.HTTP_MAX_HEADERS:
            self._refuse_headers()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()
