"""The model-page cache: a page is served while its version is unchanged and it is under a second old."""

from __future__ import annotations

from swarmtrust.api.reputation_cache import ModelPageCache


def test_a_page_lasts_until_the_ledger_changes_or_it_ages() -> None:
    cache = ModelPageCache(max_age_ms=1_000)
    cache.put("tiny", version=7, now_ms=10_000, body=b"page")
    assert cache.get("tiny", 7, 10_999) == b"page"
    assert cache.get("tiny", 8, 10_001) is None, "the reputations changed: recompute"
    assert cache.get("tiny", 7, 11_000) is None, "a second old: recompute"
    assert cache.get("tiny", 7, 9_999) is None, "a clock that went back is not trusted"
    assert cache.get("other", 7, 10_001) is None


def test_only_the_most_recently_asked_models_are_kept() -> None:
    cache = ModelPageCache(max_models=2)
    for model in ("a", "b"):
        cache.put(model, 1, 0, model.encode())
    assert cache.get("a", 1, 1) == b"a"  # "a" is now the most recent
    cache.put("c", 1, 0, b"c")
    assert cache.get("b", 1, 1) is None and cache.get("a", 1, 1) == b"a" and cache.get("c", 1, 1) == b"c"
