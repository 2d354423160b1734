"""Checksummed cached downloads, with urllib replaced by an in-memory server."""

from __future__ import annotations

import hashlib
import io
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from advkit.data import download
from advkit.data.download import ChecksumError, DownloadError, cache_dir, fetch, find_cached

PAYLOAD = b"advkit test payload " * 1000
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Response(io.BytesIO):
    def __init__(self, data: bytes, sized: bool) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))} if sized else {}


class FakeWeb:
    """Serves bytes by URL and records every request."""

    def __init__(self, files: dict[str, bytes], sized: bool = True) -> None:
        self.files = files
        self.sized = sized
        self.requests: list[str] = []

    def urlopen(self, request: urllib.request.Request, timeout: float = 0.0) -> _Response:
        url = request.full_url
        self.requests.append(url)
        if url not in self.files:
            raise urllib.error.URLError(f"unreachable: {url}")
        return _Response(self.files[url], self.sized)


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    fake = FakeWeb({"https://a.example/f.bin": PAYLOAD})
    monkeypatch.setattr(urllib.request, "urlopen", fake.urlopen)
    return fake


def test_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ADVKIT_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "advkit"


@pytest.mark.parametrize("sized", [True, False])
def test_fetch_downloads_verifies_and_caches(web: FakeWeb, tmp_path: Path, sized: bool):
    web.sized = sized
    path = fetch(["https://a.example/f.bin"], SHA, "f.bin", tmp_path)
    assert path == tmp_path / "f.bin"
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_default_cache_is_env_folder(web: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path))
    assert fetch(["https://a.example/f.bin"], SHA.upper(), "f.bin") == tmp_path / "f.bin"


def test_cache_hit_uses_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / "f.bin").write_bytes(PAYLOAD)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was used despite a valid cached file")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert fetch(["https://a.example/f.bin"], SHA, "f.bin", tmp_path) == tmp_path / "f.bin"


def test_hash_mismatch_names_file_and_both_hashes(web: FakeWeb, tmp_path: Path):
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as info:
        fetch(["https://a.example/f.bin"], wrong, "f.bin", tmp_path)
    message = str(info.value)
    assert "f.bin" in message
    assert wrong in message
    assert SHA in message
    assert list(tmp_path.iterdir()) == []


def test_corrupted_cache_is_replaced(web: FakeWeb, tmp_path: Path):
    (tmp_path / "f.bin").write_bytes(b"garbage")
    assert find_cached("f.bin", SHA, tmp_path) is None
    path = fetch(["https://a.example/f.bin"], SHA, "f.bin", tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert web.requests == ["https://a.example/f.bin"]


def test_mirrors_tried_in_order(web: FakeWeb, tmp_path: Path):
    web.files["https://bad.example/f.bin"] = b"tampered"
    urls = ["https://down.example/f.bin", "https://bad.example/f.bin", "https://a.example/f.bin"]
    assert fetch(urls, SHA, "f.bin", tmp_path).read_bytes() == PAYLOAD
    assert web.requests == urls


def test_first_good_mirror_wins(web: FakeWeb, tmp_path: Path):
    fetch(["https://a.example/f.bin", "https://never.example/f.bin"], SHA, "f.bin", tmp_path)
    assert web.requests == ["https://a.example/f.bin"]


def test_all_mirrors_down(web: FakeWeb, tmp_path: Path):
    with pytest.raises(DownloadError, match=r"could not download f\.bin.*--data-dir"):
        fetch(["https://x.example/f", "https://y.example/f"], SHA, "f.bin", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    class Broken(_Response):
        def read(self, size: int | None = -1) -> bytes:
            raise ConnectionResetError("connection reset")

    monkeypatch.setattr(
        urllib.request, "urlopen", lambda request, timeout=0.0: Broken(PAYLOAD, True)
    )
    with pytest.raises(DownloadError, match="connection reset"):
        fetch(["https://a.example/f.bin"], SHA, "f.bin", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("urls", "filename", "match"),
    [
        ([], "f.bin", "url_list is empty"),
        (["file:///etc/passwd"], "f.bin", "not an http"),
        (["https://a.example/f.bin"], "../f.bin", "bare file name"),
    ],
)
def test_bad_arguments(tmp_path: Path, urls: list[str], filename: str, match: str):
    with pytest.raises(ValueError, match=match):
        fetch(urls, SHA, filename, tmp_path)


def test_remote_file_fetch(web: FakeWeb, tmp_path: Path):
    remote = download.RemoteFile("f.bin", SHA, ("https://a.example/f.bin",))
    assert remote.fetch(tmp_path).read_bytes() == PAYLOAD


class Trickle(_Response):
    """A server that sends one byte every 20 ms, each read within any socket timeout."""

    def read(self, size: int | None = -1) -> bytes:
        time.sleep(0.02)
        return super().read(1)


def test_a_trickling_download_stops_at_the_time_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    timeouts: list[float] = []

    def urlopen(request: urllib.request.Request, timeout: float = 0.0) -> Trickle:
        timeouts.append(timeout)
        return Trickle(PAYLOAD, True)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"f\.bin .*within the time limit of 0\.3 s"):
        fetch(["https://a.example/f.bin"], SHA, "f.bin", tmp_path, time_limit=0.3)
    assert time.monotonic() - start < 2.0
    assert timeouts and max(timeouts) <= 0.3  # no socket wait beyond the limit either
    assert list(tmp_path.iterdir()) == []


def test_mirrors_left_when_the_time_limit_runs_out_are_named(
    web: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def slow_failure(request: urllib.request.Request, timeout: float = 0.0) -> _Response:
        time.sleep(0.3)
        return web.urlopen(request, timeout)

    monkeypatch.setattr(urllib.request, "urlopen", slow_failure)
    urls = ["https://down.example/f.bin", "https://a.example/f.bin"]
    with pytest.raises(DownloadError, match=r"not tried: https://a\.example/f\.bin"):
        fetch(urls, SHA, "f.bin", tmp_path, time_limit=0.2)
    assert web.requests == ["https://down.example/f.bin"]
