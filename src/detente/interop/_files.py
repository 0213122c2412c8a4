"""Reading input files, with a plain reason when the operating system refuses."""

from __future__ import annotations

from pathlib import Path

__all__ = ["Unreadable", "read_bytes"]


class Unreadable(OSError):
    """A file that cannot be read; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_bytes(path: Path) -> bytes:
    """The whole file, or `Unreadable` with a reason such as 'no such file'."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise Unreadable("no such file") from None
    except IsADirectoryError:
        raise Unreadable("is a directory, not a file") from None
    except PermissionError:
        raise Unreadable("cannot be read: permission denied") from None
    except OSError as exc:
        raise Unreadable(f"cannot be read: {exc.strerror or exc}") from None
