"""Checksummed, cached downloads of dataset files.

Problem solved: datasets must come from their official sources, arrive intact and be
fetched only once. :func:`fetch` downloads a file into advkit's cache folder (see
:func:`cache_dir`), trying mirrors in order, streams it to a temporary file while hashing
it, checks the SHA-256 and only then renames it into place atomically, so an interrupted
or corrupted download never leaves a file that looks valid. A file already in the cache
with the right hash is returned without touching the network. Each network operation
times out after 60 s, and the whole download, all mirrors together, after
:data:`TIME_LIMIT_S` (``time_limit=``), so a stalled or trickling server cannot hang a run.

Example:
    >>> from advkit.data.download import fetch
    >>> path = fetch(  # doctest: +SKIP
    ...     ["https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"],
    ...     "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ...     "t10k-labels-idx1-ubyte.gz",
    ... )
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

__all__ = [
    "TIME_LIMIT_S",
    "ChecksumError",
    "DownloadError",
    "RemoteFile",
    "cache_dir",
    "fetch",
    "find_cached",
    "sha256sum",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_USER_AGENT = "advkit"

TIME_LIMIT_S = 1800.0
"""Default time limit of one file's download, all mirrors together (CIFAR-10's 163 MB
at 100 kB/s)."""


@dataclass(frozen=True)
class RemoteFile:
    """A file published at one or more URLs with a known SHA-256.

    Attributes:
        filename: the official file name (also its name in the cache).
        sha256: hex SHA-256 digest of the official file.
        urls: official URL first, then mirrors.
    """

    filename: str
    sha256: str
    urls: tuple[str, ...]

    def fetch(self, cache_dir: Path | None = None) -> Path:
        """Download (or find in the cache) this file; see :func:`fetch`."""
        return fetch(self.urls, self.sha256, self.filename, cache_dir)


class ChecksumError(ValueError):
    """A file's SHA-256 differs from the expected one (corrupted or tampered download)."""


class DownloadError(OSError):
    """No mirror could deliver a file."""


def cache_dir() -> Path:
    """Return advkit's cache folder (not created here).

    Returns:
        ``$ADVKIT_CACHE`` when that environment variable is set and non-empty, else
        ``~/.cache/advkit``.
    """
    env = os.environ.get("ADVKIT_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "advkit"


def sha256sum(path: Path) -> str:
    """Return the hex SHA-256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def find_cached(filename: str, sha256: str, cache_dir: Path | None = None) -> Path | None:
    """Return the cached copy of a file if it exists and has the expected hash.

    Args:
        filename: bare file name inside the cache folder.
        sha256: expected hex SHA-256 digest (case-insensitive).
        cache_dir: folder to look in; default :func:`cache_dir`.

    Returns:
        The path, or ``None`` when the file is absent or its hash is wrong (a wrong file is
        logged and left for :func:`fetch` to replace).
    """
    folder = _resolve_cache(cache_dir)
    path = folder / _check_filename(filename)
    if not path.is_file():
        return None
    actual = sha256sum(path)
    if actual != sha256.lower():
        logger.warning(
            "cached %s has sha256 %s, expected %s; it will be downloaded again",
            path,
            actual,
            sha256.lower(),
        )
        return None
    return path


def fetch(
    url_list: Sequence[str],
    sha256: str,
    filename: str,
    cache_dir: Path | None = None,
    time_limit: float = TIME_LIMIT_S,
) -> Path:
    """Download a file into the cache, verify its SHA-256 and return its path.

    Mirrors are tried in order; the first one delivering the right bytes wins. The file is
    written to a temporary file in the cache folder and atomically renamed once its hash
    is verified. If the file is already cached with the right hash, no network is used.
    Each network operation times out after 60 s; after ``time_limit`` seconds in all the
    download in progress is abandoned and no further mirror is tried.

    Args:
        url_list: ``http(s)`` URLs of the file, official source first, then mirrors.
        sha256: expected hex SHA-256 digest.
        filename: name of the file in the cache folder (no directories).
        cache_dir: folder to store it in; default :func:`cache_dir` (created if needed).
        time_limit: seconds for the whole download, all mirrors together.

    Returns:
        Path of the verified file.

    Raises:
        ChecksumError: every mirror that answered delivered bytes with the wrong hash; the
            message names the file, the expected and the actual hash.
        DownloadError: no mirror could be reached, or ``time_limit`` ran out; the message
            names the file, each failure and the mirrors not tried.
        ValueError: ``url_list`` is empty, a URL is not http(s), or ``filename`` has
            directory parts.
    """
    if not url_list:
        raise ValueError(f"fetch({filename!r}): url_list is empty; give at least one URL.")
    for url in url_list:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"fetch({filename!r}): {url!r} is not an http(s) URL.")
    cached = find_cached(filename, sha256, cache_dir)
    if cached is not None:
        logger.debug("cache hit: %s", cached)
        return cached
    folder = _resolve_cache(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    expected = sha256.lower()
    deadline = time.monotonic() + time_limit
    mismatch: ChecksumError | None = None
    failures: list[str] = []
    for tried, url in enumerate(url_list):
        if time.monotonic() >= deadline:
            failures.append(f"not tried: {', '.join(url_list[tried:])}")
            break
        try:
            actual = _download(url, target, expected, deadline)
        except (OSError, http.client.HTTPException) as err:
            logger.warning("download of %s from %s failed: %s", filename, url, err)
            failures.append(f"{url}: {err}")
            continue
        if actual == expected:
            return target
        mismatch = ChecksumError(
            f"sha256 mismatch for {filename} downloaded from {url}: expected {expected}, "
            f"got {actual}. The download is corrupted or the file changed upstream; "
            "it was discarded."
        )
        logger.warning("%s", mismatch)
    if mismatch is not None:
        raise mismatch
    late = time.monotonic() >= deadline
    raise DownloadError(
        f"could not download {filename} from any mirror"
        + (f" within the time limit of {time_limit:g} s" if late else "")
        + f" ({'; '.join(failures)}). Check the network connection, or get the file by "
        "other means and pass its folder as data_dir (CLI: --data-dir)."
    )


def _resolve_cache(folder: Path | None) -> Path:
    return cache_dir() if folder is None else Path(folder).expanduser()


def _timeout(deadline: float) -> float:
    """The socket timeout: 60 s, or less when the time limit is nearer."""
    return max(0.01, min(_TIMEOUT_S, deadline - time.monotonic()))


def _check_filename(filename: str) -> str:
    if not filename or Path(filename).name != filename or filename in (".", ".."):
        raise ValueError(f"filename must be a bare file name, got {filename!r}.")
    return filename


def _download(url: str, target: Path, expected: str, deadline: float) -> str:
    """Stream ``url`` into a temporary file next to ``target``, hashing as it goes.

    The temporary file replaces ``target`` atomically when its hash equals ``expected``
    and is deleted otherwise.

    Returns:
        The hex SHA-256 of the downloaded bytes.

    Raises:
        TimeoutError: ``time.monotonic()`` passed ``deadline`` before the end.
    """
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(request, timeout=_timeout(deadline)) as response,
        ):
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            logger.info("downloading %s from %s", target.name, url)
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=target.name,
                disable=total is None,
                leave=False,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    if time.monotonic() >= deadline:
                        raise TimeoutError("the time limit ran out during the download")
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        actual = digest.hexdigest()
        if actual == expected:
            os.replace(tmp, target)
        return actual
    finally:
        tmp.unlink(missing_ok=True)
