"""nginx's configuration as deploy/serve.py writes it, read as nginx reads it, with no nginx needed: every route
the app serves falls in its cost class (docs/deployment.md, "What one client can and cannot do"), and every
location that passes requests on keeps the per-client limits. nginx replaces, not extends, an inherited
``limit_conn`` wherever a block sets one of its own: a class limit written alone would drop the limit of 32."""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.serve import CLIENT_RATE, HEAVY_PER_CLIENT, SAMPLES_PER_CLIENT, nginx_config

TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|[{};]|[^\s{};'\"]+")
Block = list[tuple[list[str], "Block | None"]]  # (directive and its arguments, the block it opens)

SAMPLES = {"/", "/steer", "/api/v1/generate", "/api/v1/generate.png", "/api/v1/steer", "/api/v1/steer.png"}
HEAVY = {"/write", "/morph", "/draw", "/api/v1/number", "/api/v1/number.png", "/api/v1/morph", "/api/v1/morph.gif",
         "/api/v1/style"}
UPLOADS = {"/draw", "/api/v1/style"}


def parse(tokens: list[str]) -> Block:
    """Directives up to the end of the current block (its "}" consumed)."""
    block: Block = []
    words: list[str] = []
    while tokens:
        token = tokens.pop(0)
        if token == ";":
            block.append((words, None))
            words = []
        elif token == "{":
            block.append((words, parse(tokens)))
            words = []
        elif token == "}":
            return block
        else:
            words.append(token)
    return block


@dataclass
class Location:
    """A location block: its directives, the limit_conn in force there (its own, else its enclosing block's:
    nginx inherits such a directive only into a block that sets none), and the locations nested in it."""

    match: str
    block: Block
    limits: list[tuple[str, ...]]
    nested: list[Location]

    def directive(self, name: str) -> list[str]:
        return [words[1] for words, _ in self.block if words[0] == name]


def in_force(block: Block, inherited: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    return [tuple(words[1:]) for words, _ in block if words[0] == "limit_conn"] or inherited


def locations(block: Block, inherited: list[tuple[str, ...]]) -> list[Location]:
    """The locations in ``block`` and in the blocks it opens (http, server), in order."""
    limits = in_force(block, inherited)
    found = []
    for words, inner in block:
        if inner is not None and words[0] == "location":
            found.append(Location(" ".join(words[1:]), inner, in_force(inner, limits), locations(inner, limits)))
        elif inner is not None:
            found += locations(inner, limits)
    return found


def every(tree: list[Location]) -> list[Location]:
    return [found for location in tree for found in (location, *every(location.nested))]


def first_regex(candidates: list[Location], path: str) -> Location | None:
    return next((loc for loc in candidates if loc.match.startswith("~ ") and re.search(loc.match[2:], path)), None)


def served_by(candidates: list[Location], path: str) -> Location:
    """nginx's choice for ``path``: an exact match; else the longest prefix if it is a ^~ one; else the first
    regex that matches (and within it, the first nested one that does); else the longest prefix."""
    for location in candidates:
        if location.match == f"= {path}":
            return location
    prefixes = [loc for loc in candidates if not loc.match.startswith(("~", "="))
                and path.startswith(loc.match.removeprefix("^~ "))]
    longest = max(prefixes, key=lambda loc: len(loc.match.removeprefix("^~ ")), default=None)
    regex = None if longest is not None and longest.match.startswith("^~ ") else first_regex(candidates, path)
    if regex is not None:
        return first_regex(regex.nested, path) or regex
    assert longest is not None, path
    return longest


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> list[Location]:
    """The locations of the configuration serve-prod writes, comments dropped."""
    args = argparse.Namespace(client_rate=CLIENT_RATE, samples_per_client=SAMPLES_PER_CLIENT,
                              heavy_per_client=HEAVY_PER_CLIENT)
    text = nginx_config(Path(tmp_path_factory.mktemp("run")), "127.0.0.1:8000", args)
    return locations(parse(TOKEN.findall(re.sub(r"#[^\n]*", "", text))), [])


def test_every_route_of_the_app_falls_in_its_cost_class(app, config):
    """Heavy routes go to the heavy pool with the expensive limit, samples to the light pool with theirs, the
    rest to the light pool under the general limit alone."""
    routes = {rule.rule for rule in app.url_map.iter_rules() if "<" not in rule.rule}
    assert SAMPLES | HEAVY <= routes
    for route in routes:
        location = served_by(config, route)
        assert ("client_connections", "32") in location.limits, route
        if route in HEAVY:
            assert location.directive("proxy_pass") == ["http://heavy"], route
            assert ("client_heavy", str(HEAVY_PER_CLIENT)) in location.limits, route
        elif route in SAMPLES:
            assert location.directive("proxy_pass") == ["http://light"], route
            assert ("client_samples", str(SAMPLES_PER_CLIENT)) in location.limits, route
        else:
            assert location.directive("proxy_pass") == ["http://light"] and len(location.limits) == 1, route
        assert bool(location.directive("client_max_body_size")) == (route in UPLOADS), route


def test_every_location_that_passes_requests_on_keeps_the_limit_of_32(config):
    for location in every(config):
        if location.directive("proxy_pass"):
            assert ("client_connections", "32") in location.limits, location.match
