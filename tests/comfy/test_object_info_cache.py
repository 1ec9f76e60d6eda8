"""The object_info cache hands back the same parsed dict while a server's body is unchanged."""

from __future__ import annotations

import hashlib

import pytest

from orch_common.comfy.object_info_cache import ObjectInfoCache

from ._fixtures import FIXTURES

BODY = (FIXTURES / "object_info.json").read_bytes()
SMALL = (FIXTURES / "object_info_ImageBlur.json").read_bytes()


def test_an_unchanged_body_returns_the_same_parsed_object():
    cache = ObjectInfoCache()
    first = cache.store("http://a:8188", BODY)
    assert cache.store("http://a:8188/", BODY) is first
    assert cache.get("http://a:8188") is first
    assert cache.hash("http://a:8188") == hashlib.sha256(BODY).hexdigest()


def test_a_changed_body_is_parsed_again_and_rehashed():
    cache = ObjectInfoCache()
    first = cache.store("http://a:8188", BODY)
    second = cache.store("http://a:8188", SMALL)
    assert second is not first and list(second) == ["ImageBlur"]
    assert cache.hash("http://a:8188") == hashlib.sha256(SMALL).hexdigest()


def test_servers_are_kept_apart_and_can_be_forgotten():
    cache = ObjectInfoCache()
    a = cache.store("http://a:8188", BODY)
    b = cache.store("http://b:8188", BODY)
    assert a is not b and a == b
    cache.forget("http://a:8188")
    assert cache.get("http://a:8188") is None and cache.hash("http://a:8188") is None
    assert cache.get("http://b:8188") is b


@pytest.mark.parametrize("body", [b"[]", b"not json"])
def test_a_body_that_is_not_a_json_object_is_refused_and_nothing_is_stored(body):
    cache = ObjectInfoCache()
    with pytest.raises(ValueError):
        cache.store("http://a:8188", body)
    assert cache.get("http://a:8188") is None
