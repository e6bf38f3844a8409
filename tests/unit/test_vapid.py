"""VAPID keys: the development pair kept in instance/vapid.json, and the key forms accepted."""

from __future__ import annotations

import base64
import json
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from py_vapid import Vapid02

from portal.notifications import vapid


def make_app(tmp_path, **config) -> Flask:
    app = Flask("vapid-test", instance_path=str(tmp_path / "instance"))
    app.config.update({"PORTAL_ENV": "development", "VAPID_PRIVATE_KEY": "",
                       "VAPID_PUBLIC_KEY": "", **config})
    return app


def signs_for(private: str, public: str) -> bool:
    """A token signed with `private` verifies against `public`, as a push service checks."""
    headers = vapid.signer(private).sign({"sub": "mailto:a@example.com",
                                          "aud": "https://push.example.com"})
    assert headers["Authorization"].split("k=")[1] == public
    return Vapid02.verify(headers["Authorization"])


def test_a_development_app_gets_a_key_pair_kept_in_the_instance_folder(tmp_path):
    app = make_app(tmp_path)
    vapid.ensure_dev_vapid_keys(app)

    private, public = app.config["VAPID_PRIVATE_KEY"], app.config["VAPID_PUBLIC_KEY"]
    assert signs_for(private, public)
    path = tmp_path / "instance" / "vapid.json"
    assert json.loads(path.read_text())["private_key"] == private
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["vapid.json"]  # no temp file left

    # The next process (a worker, a restart) uses the same pair.
    again = make_app(tmp_path)
    vapid.ensure_dev_vapid_keys(again)
    assert (again.config["VAPID_PRIVATE_KEY"], again.config["VAPID_PUBLIC_KEY"]) == (
        private, public)


def test_production_never_makes_keys_and_push_stays_off(tmp_path):
    app = make_app(tmp_path, PORTAL_ENV="production")
    vapid.ensure_dev_vapid_keys(app)
    assert app.config["VAPID_PRIVATE_KEY"] == ""
    assert not (tmp_path / "instance").exists()
    assert vapid.public_key(app.config) is None


def test_configured_keys_are_left_alone(tmp_path):
    private, public = vapid.generate_key_pair()
    app = make_app(tmp_path, VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public)
    vapid.ensure_dev_vapid_keys(app)
    assert app.config["VAPID_PRIVATE_KEY"] == private
    assert not (tmp_path / "instance").exists()


def test_a_broken_key_file_turns_push_off_instead_of_failing_to_start(tmp_path):
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "vapid.json").write_text('{"private_key": "not a key"}')
    app = make_app(tmp_path)
    vapid.ensure_dev_vapid_keys(app)
    assert app.config["VAPID_PRIVATE_KEY"] == ""


def test_the_file_written_first_wins(tmp_path, monkeypatch):
    """Two processes starting together: the second finds the first's file at link time."""
    first = make_app(tmp_path)
    vapid.ensure_dev_vapid_keys(first)
    path = tmp_path / "instance" / "vapid.json"
    monkeypatch.setattr(type(path), "exists", lambda self: False)  # it "did not exist yet"
    second = make_app(tmp_path)
    vapid.ensure_dev_vapid_keys(second)
    assert second.config["VAPID_PRIVATE_KEY"] == first.config["VAPID_PRIVATE_KEY"]


def test_the_private_key_may_be_raw_der_or_pem(tmp_path):
    private, public = vapid.generate_key_pair()
    key = vapid.signer(private).private_key
    der = base64.urlsafe_b64encode(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())).decode()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    key_file = tmp_path / "private_key.pem"  # as `vapid --gen` writes it
    key_file.write_text(pem)
    for form in (private, der, pem, str(key_file)):
        assert vapid.public_key_for(form) == public
        assert signs_for(form, public)


def test_a_placeholder_key_turns_push_off_instead_of_failing(caplog):
    assert vapid.public_key({"VAPID_PRIVATE_KEY": "change-me"}) is None
    assert "not a usable key" in caplog.text


def test_the_published_key_is_the_private_keys_own(tmp_path, caplog):
    private, public = vapid.generate_key_pair()
    _, other_public = vapid.generate_key_pair()
    assert vapid.public_key({"VAPID_PRIVATE_KEY": private}) == public
    assert vapid.public_key({"VAPID_PRIVATE_KEY": private, "VAPID_PUBLIC_KEY": other_public}) \
        == public
    assert "does not belong" in caplog.text


@pytest.mark.parametrize("bad", ["AAAA", "short", "!!!"])
def test_an_unusable_private_key_is_an_error(bad):
    with pytest.raises(Exception):  # noqa: B017, PT011 - py_vapid raises several kinds
        vapid.signer(bad)
