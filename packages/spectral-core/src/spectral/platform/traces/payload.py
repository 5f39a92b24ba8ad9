"""Reading an OTLP request body with bounded memory: the size limit applies after decompression,
and a gzip body is inflated incrementally, so a gzip bomb is cut off at the limit instead of being
expanded in memory first."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from spectral.platform.shared.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from spectral.platform.traces.errors import UndecodableTracesError

_GZIP_WBITS = 16 + zlib.MAX_WBITS
IDENTITY_ENCODINGS = frozenset({"", "identity"})
GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"The request body exceeds the limit of {limit} bytes (after decompression)")


def check_encoding(content_encoding: str | None) -> str:
    encoding = (content_encoding or "").strip().lower()
    if encoding not in IDENTITY_ENCODINGS and encoding not in GZIP_ENCODINGS:
        raise UnsupportedMediaTypeError(f"Content-Encoding {encoding!r} is not supported; send gzip or none")
    return encoding


async def read_body(chunks: AsyncIterator[bytes], *, content_encoding: str | None, limit: int) -> bytes:
    """The body, inflated if gzip; `PayloadTooLargeError` as soon as it passes `limit` bytes."""
    encoding = check_encoding(content_encoding)
    body = bytearray()
    if encoding in IDENTITY_ENCODINGS:
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise _too_large(limit)
        return bytes(body)

    received = 0
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            data = chunk
            while data:
                # Never ask for more than one byte past the limit: memory stays bounded.
                body += inflater.decompress(data, limit + 1 - len(body))
                if len(body) > limit:
                    raise _too_large(limit)
                data = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:
                    # A multi-member gzip stream: the next member starts here.
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(_GZIP_WBITS)
        body += inflater.flush()
    except zlib.error as exc:
        raise UndecodableTracesError(f"The gzip body is corrupt: {exc}") from exc
    if len(body) > limit:
        raise _too_large(limit)
    if not inflater.eof:
        raise UndecodableTracesError("The gzip body is truncated")
    return bytes(body)
