"""portal.netguard: which URLs the server may fetch for someone, and that the request goes to the
address that was checked while TLS still checks the host's name."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from portal import netguard
from portal.config import DEFAULT_PUSH_HOSTS


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),  # noqa: S104
    ("192.0.2.1", False), ("224.0.0.1", False), ("233.1.1.1", False),
    ("::1", False), ("::", False), ("fe80::1", False), ("fd00::1", False), ("ff02::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("::ffff:8.8.8.8", True),
    ("2002:0a00:0001::1", False),  # 6to4 around 10.0.0.1
    ("2002:0808:0808::1", True),   # 6to4 around 8.8.8.8
])
def test_only_public_addresses_pass(address, public):
    assert netguard.public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(("host", "allowed"), [
    ("fcm.googleapis.com", True), ("FCM.googleapis.com.", True),
    ("updates.push.services.mozilla.com", True), ("push.services.mozilla.com", False),
    ("web.push.apple.com", True), ("push.apple.com", False), ("evilpush.apple.com", False),
    ("wns2-par02p.notify.windows.com", True), ("notify.windows.com.evil.example", False),
    ("googleapis.com", False), ("127.0.0.1", False),
])
def test_the_default_push_hosts(host, allowed):
    assert netguard.host_allowed(host, DEFAULT_PUSH_HOSTS) is allowed


@pytest.fixture
def dns(monkeypatch):
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]
        if host in ("push.test", "other.test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize(("url", "why"), [
    ("http://fcm.googleapis.com/fcm/send/x", "https://"),
    ("ftp://fcm.googleapis.com/x", "https://"),
    ("https:///x", "https://"),
    ("https://user:pw@fcm.googleapis.com/x", "user name"),
    ("https://fcm.googleapis.com:99999/x", "not a valid URL"),
    ("https://push.test/x", "not one of the allowed"),
    ("https://[::1]/x", "not one of the allowed"),
])
def test_urls_that_are_refused_before_any_lookup(dns, url, why):
    with pytest.raises(netguard.UnsafeURL, match=why):
        netguard.check_url(url, allowed_hosts=DEFAULT_PUSH_HOSTS)


def test_every_address_of_the_host_is_checked_and_the_first_is_the_one_used(dns):
    dns["fcm.googleapis.com"] = ["142.250.183.10", "142.250.183.11"]
    destination = netguard.check_url("https://fcm.googleapis.com/fcm/send/x",
                                     allowed_hosts=DEFAULT_PUSH_HOSTS)
    assert (destination.host, destination.port, destination.address) == (
        "fcm.googleapis.com", 443, "142.250.183.10")

    dns["fcm.googleapis.com"] = ["142.250.183.10", "127.0.0.1"]
    with pytest.raises(netguard.UnsafeURL, match=r"private or local address \(127.0.0.1\)"):
        netguard.check_url("https://fcm.googleapis.com/x", allowed_hosts=DEFAULT_PUSH_HOSTS)


def test_a_name_that_does_not_resolve_is_its_own_error(dns):
    with pytest.raises(netguard.UnresolvedHost):
        netguard.check_url("https://push.test/x", allowed_hosts=["push.test"])


# --- the pinned connection ----------------------------------------------------------------------


def _certificate(tmp_path, name: str):
    """A self-signed certificate for `name` (its own CA), as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path):
    """An https server on 127.0.0.1 with a certificate for push.test; records what it saw."""
    cert_file, key_file = _certificate(tmp_path, "push.test")
    seen: dict[str, list] = {"sni": [], "host": []}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda _sock, name, _ctx: seen["sni"].append(name)

    @Request.application
    def app(request: Request) -> Response:
        seen["host"].append(request.host)
        return Response("", status=201)

    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, cert_file, seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_the_pinned_session_connects_to_the_address_and_speaks_to_the_name(dns, tls_server):
    port, ca_file, seen = tls_server
    # What the check approved (here by hand: 127.0.0.1 is the test server's address).
    destination = netguard.Destination(url=f"https://push.test:{port}/wpush/x", scheme="https",
                                       host="push.test", port=port, address="127.0.0.1")
    with netguard.pinned_session(destination) as session:
        session.verify = str(ca_file)
        response = session.post(destination.url, data=b"hello", timeout=10)

    assert response.status_code == 201
    assert seen["sni"] == ["push.test"]
    assert seen["host"] == [f"push.test:{port}"]
    # push.test has no DNS entry (the fixture refuses it): the name was never looked up.


def test_the_certificate_is_checked_against_the_host_name_not_the_address(dns, tls_server):
    port, ca_file, _seen = tls_server
    destination = netguard.Destination(url=f"https://other.test:{port}/x", scheme="https",
                                       host="other.test", port=port, address="127.0.0.1")
    with netguard.pinned_session(destination) as session:
        session.verify = str(ca_file)
        with pytest.raises(requests.exceptions.SSLError):
            session.post(destination.url, data=b"hello", timeout=10)


def test_the_pinned_session_refuses_any_other_destination(dns, tls_server):
    port, _ca_file, seen = tls_server
    destination = netguard.Destination(url=f"https://push.test:{port}/x", scheme="https",
                                       host="push.test", port=port, address="127.0.0.1")
    with netguard.pinned_session(destination) as session, \
            pytest.raises(netguard.UnsafeURL, match="not the checked destination"):
        session.post(f"https://other.test:{port}/x", timeout=10)
    assert seen["host"] == []
