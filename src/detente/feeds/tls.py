"""TLS contexts for feeds: mutual TLS, TLS 1.2 or later, certificates from PEM files."""

from __future__ import annotations

import ssl
from os import PathLike

from detente.feeds._intake import FeedError

__all__ = ["client_ssl_context", "server_ssl_context"]

Path = str | PathLike[str]


def server_ssl_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A listener's context: it shows `cert` (with its `key`) and requires every client to show
    a certificate signed by `ca` (`verify_mode=CERT_REQUIRED`).

    >>> server_ssl_context("missing.pem", "missing.key", "ca.pem")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    detente.feeds._intake.FeedError: missing.pem: cannot load the certificate and key (No such...)
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, cert, key)
    _load_ca(context, ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_ssl_context(
    cert: Path, key: Path, ca: Path | None = None, *, check_hostname: bool = True
) -> ssl.SSLContext:
    """A client's context: it shows `cert` (with its `key`) and trusts servers signed by `ca`
    (the system's authorities when None), checking the server's name unless told not to."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, cert, key)
    if ca is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_ca(context, ca)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _load_chain(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        context.load_cert_chain(cert, key)
    except OSError as error:  # ssl.SSLError included
        why = error.strerror or str(error)
        raise FeedError(str(cert), f"cannot load the certificate and key ({why})") from None


def _load_ca(context: ssl.SSLContext, ca: Path) -> None:
    try:
        context.load_verify_locations(ca)
    except OSError as error:  # ssl.SSLError included
        why = error.strerror or str(error)
        raise FeedError(str(ca), f"cannot load the certificate authority ({why})") from None
