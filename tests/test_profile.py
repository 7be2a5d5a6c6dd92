import pytest

from keras_deepae.profile import RunProfile


def test_quick_is_the_default(monkeypatch):
    monkeypatch.delenv("DEEPAE_PROFILE", raising=False)
    profile = RunProfile.from_env()
    assert profile.name == "quick"
    assert profile.digits == "mnist5k"
    assert profile.pick(quick=3, full=30) == 3


def test_full_profile_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEEPAE_PROFILE", " Full ")
    profile = RunProfile.from_env()
    assert profile.name == "full"
    assert profile.digits == "mnist"
    assert profile.pick(quick=3, full=30) == 30


def test_unknown_profile_is_an_error(monkeypatch):
    monkeypatch.setenv("DEEPAE_PROFILE", "fast")
    with pytest.raises(ValueError, match="'quick', 'full'.*DEEPAE_PROFILE='fast'"):
        RunProfile.from_env()
