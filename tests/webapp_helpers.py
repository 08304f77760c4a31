"""Helpers shared by the web app tests: decoding answers, free ports, waiting for servers, what every answer
must carry (a documented refusal, the security headers)."""
from __future__ import annotations

import base64
import io
import re
import socket
import subprocess
import time
import urllib.request

from PIL import Image

DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def decode_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def page_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(b64) for b64 in DATA_URI.findall(html)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; fail early if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"server exited with {process.returncode}: {stderr}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def multipart(fields: dict[str, str], image: bytes, boundary: str = "b") -> tuple[bytes, str]:
    """A multipart/form-data body with the fields and one ``image`` file, and its Content-Type."""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="one.png"\r\n'
                 f"Content-Type: image/png\r\n\r\n".encode() + image + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def assert_documented(response, route: str) -> None:
    assert response.status_code < 500, (route, response.status_code)
    if response.status_code >= 400:
        if route.startswith("/api/") or route == "/healthz":
            assert response.get_json()["error"]
        else:
            assert 'role="alert"' in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# Written out, not read from webapp/errors.py: deleting or weakening a header there must fail here.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assert_security_headers(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
