"""The app's settings: defaults, ``FLASK_*`` overrides, and the checks that refuse a bad one at start-up.

Every check names the setting, so a typo stops start-up with one line instead of serving
something other than what the operator asked for.
"""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from flask import Flask

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
DEFAULTS = {"ARTIFACTS_DIR": str(ARTIFACTS), "DEFAULT_MODEL": "cvae", "INTRA_OP_THREADS": 1,
            "MAX_QUERY_BYTES": 1024, "PROXY_FIX": 0, "TRUSTED_HOSTS": [],
            "METRICS": 1, "METRICS_ALLOW": "127.0.0.1,::1"}
LOOPBACK_HOSTS = ["localhost", "127.0.0.1"]  # Werkzeug 3.1 cannot match an IPv6 literal ("[::1]")
# One DNS name or IPv4 address: labels of 1-63 letters, digits or inner hyphens, 253 characters in all.
HOST_NAME = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z",
                       re.ASCII | re.IGNORECASE)


class SettingError(ValueError):
    """A setting that stops start-up; the message names it."""


def whole_number(config: dict, key: str, low: int) -> int:
    """JSON-parsed env values can be bool (``true``), float or str: only a real int passes."""
    value = config[key]
    if type(value) is not int or value < low:
        raise SettingError(f"FLASK_{key} must be a whole number >= {low}, written in digits")
    return value


def trusted_hosts(extra: object) -> list[str]:
    """The loopback names plus the operator's: a comma-separated string or a JSON list of exact names."""
    names = extra.split(",") if isinstance(extra, str) else extra
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise SettingError("FLASK_TRUSTED_HOSTS must be host names separated by commas")
    cleaned = [name.strip().lower() for name in names if name.strip()]
    for name in cleaned:
        if not HOST_NAME.match(name):
            raise SettingError(f"FLASK_TRUSTED_HOSTS: {name[:80]!r} is not an exact DNS name or IPv4 address "
                               "(no ports, wildcards, leading dots or IPv6 literals)")
    return LOOPBACK_HOSTS + cleaned


def metrics_allow(value: object) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses or networks (``10.0.0.0/8``) that may read /metrics, separated by commas."""
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in str(value).split(",") if part.strip()]
    except ValueError:
        raise SettingError("FLASK_METRICS_ALLOW must be IP addresses or networks separated by commas") from None


def load(app: Flask, overrides: dict | None) -> None:
    """Defaults, then ``FLASK_*`` from the environment, then ``overrides``; raise SettingError on a bad one."""
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env()
    app.config.update(overrides or {})
    for key in ("INTRA_OP_THREADS", "MAX_QUERY_BYTES"):
        whole_number(app.config, key, 1)
    whole_number(app.config, "PROXY_FIX", 0)
    if app.config["METRICS"] not in (0, 1) or type(app.config["METRICS"]) is not int:
        raise SettingError("FLASK_METRICS must be 1 (count and serve /metrics, the default) or 0 (neither)")
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config["TRUSTED_HOSTS"])
    app.config["METRICS_ALLOW"] = metrics_allow(app.config["METRICS_ALLOW"])


def check_default_model(app: Flask, names: list[str]) -> None:
    default = app.config["DEFAULT_MODEL"]
    if default not in names:
        raise SettingError(f"FLASK_DEFAULT_MODEL={str(default)[:40]!r} is not one of the models here: "
                           f"{', '.join(names)}")
