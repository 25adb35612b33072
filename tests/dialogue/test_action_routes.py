"""The conversation routes, in a real password-protected Redis: what nodes write is checked,
what comes back is checked again, every route expires, and Redis trouble is one clear error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis

from dialogue.action_routes import KEY_PREFIX, ActionRoutes, RoutesUnavailable
from ivr.config import Config, ConfigError, load_config
from ivr.secretfile import write_secret
from ivr.services import action_routes
from tests.redis import RedisProcess

NODE_1 = "http://10.0.0.1:5055/webhook"
NODE_2 = "https://node-2.example:8443/actions/webhook"


def direct(server: RedisProcess) -> redis.Redis:
    """A plain client on the same Redis, to see (and tamper with) what is stored."""
    return redis.Redis.from_url(server.url, password=server.password, decode_responses=True)


def configured(server: RedisProcess, *settings: str) -> Config:
    return load_config(
        overrides=[
            f"dialogue.routes_url={server.url}",
            f"dialogue.routes_password_file={server.password_file}",
            *settings,
        ],
        environ={},
    )


async def test_a_route_is_registered_looked_up_and_forgotten(redis_server: RedisProcess) -> None:
    routes = ActionRoutes(redis_server.url, redis_server.password, 60.0)
    try:
        assert await routes.lookup("call-a") is None
        await routes.register("call-a", NODE_1)
        await routes.register("call-b", NODE_2)
        assert await routes.lookup("call-a") == NODE_1
        assert await routes.lookup("call-b") == NODE_2
        assert direct(redis_server).get(KEY_PREFIX + "call-a") == NODE_1
        await routes.register("call-a", NODE_2)  # the call moved: the newest note wins
        assert await routes.lookup("call-a") == NODE_2
        await routes.forget("call-a")
        await routes.forget("call-a")  # twice is no error
        assert await routes.lookup("call-a") is None
        assert await routes.lookup("call-b") == NODE_2
    finally:
        await routes.close()


async def test_a_route_lives_route_ttl_s_after_it_is_written(redis_server: RedisProcess) -> None:
    for ttl_s in (90, 4000):
        routes = action_routes(
            configured(redis_server, "call.max_call_s=60", f"dialogue.route_ttl_s={ttl_s}")
        )
        assert routes is not None
        try:
            await routes.register(f"call-{ttl_s}", NODE_1)
        finally:
            await routes.close()
        left_ms = direct(redis_server).pttl(KEY_PREFIX + f"call-{ttl_s}")
        assert ttl_s * 1000 - 5000 < left_ms <= ttl_s * 1000
    with pytest.raises(ConfigError, match="route_ttl_s must be longer than call"):
        configured(redis_server, "call.max_call_s=600", "dialogue.route_ttl_s=600")


async def test_routes_url_names_the_registry_and_empty_means_one_node(
    redis_server: RedisProcess,
) -> None:
    assert action_routes(load_config(environ={})) is None  # no routes: Rasa calls one node
    routes = action_routes(configured(redis_server))
    assert routes is not None
    try:
        await routes.register("call-a", NODE_1)
    finally:
        await routes.close()
    assert direct(redis_server).get(KEY_PREFIX + "call-a") == NODE_1
    with pytest.raises(ConfigError, match="routes_url must start with redis://"):
        load_config(overrides=["dialogue.routes_url=http://127.0.0.1:6379"], environ={})
    with pytest.raises(ConfigError, match="action_server_host must be this node's own address"):
        configured(redis_server, "dialogue.action_server_host=0.0.0.0")  # unreachable as a route


async def test_the_password_comes_from_routes_password_file_and_a_wrong_one_is_a_clear_error(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    routes = action_routes(configured(redis_server))
    assert routes is not None
    try:
        await routes.ping()
    finally:
        await routes.close()
    wrong = write_secret(tmp_path / "wrong.pass", "not-the-password")
    for settings, reason in (
        ([f"dialogue.routes_password_file={wrong}"], "invalid username-password"),
        (["dialogue.routes_password_file="], "Authentication required"),
    ):
        routes = action_routes(configured(redis_server, *settings))
        assert routes is not None
        try:
            with pytest.raises(RoutesUnavailable, match=f"{redis_server.url}: register.*{reason}"):
                await routes.register("call-a", NODE_1)
            with pytest.raises(RoutesUnavailable, match=reason):
                await routes.lookup("call-a")
        finally:
            await routes.close()
    wrong.chmod(0o640)
    with pytest.raises(ConfigError, match=r"routes_password_file: .* other users"):
        action_routes(configured(redis_server, f"dialogue.routes_password_file={wrong}"))


@pytest.mark.parametrize(
    "conversation",
    ["", "c" * 257, "call\n-a", "call\x00a", "call\x7f", "call\x85a"],
)
async def test_bad_conversation_ids_are_refused(
    redis_server: RedisProcess, conversation: str
) -> None:
    routes = ActionRoutes(redis_server.url, redis_server.password, 60.0)
    try:
        for attempt in (
            routes.register(conversation, NODE_1),
            routes.lookup(conversation),
            routes.forget(conversation),
        ):
            with pytest.raises(ValueError, match="conversation id"):
                await attempt
        await routes.register("c" * 256, NODE_1)  # the longest allowed
    finally:
        await routes.close()
    assert direct(redis_server).keys() == [KEY_PREFIX + "c" * 256]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://10.0.0.1/webhook",
        "10.0.0.1:5055/webhook",
        "http:///webhook",
        "http://10.0.0.1:5055/health",
        "http://10.0.0.1:5055/webhook/",
        "http://10.0.0.1:5055/webhook?next=evil",
        "http://10.0.0.1:5055/webhook#x",
        "http://user:secret@10.0.0.1/webhook",
        "http://10.0.0.1:99999/webhook",
        "http://10.0.0.1/web hook/webhook",
        "http://10.0.0.1/\r\nX: y/webhook",
        "http://10.0.0.1/" + "a" * 2048 + "/webhook",
    ],
)
async def test_a_target_that_is_no_action_webhook_is_refused(
    redis_server: RedisProcess, url: str
) -> None:
    routes = ActionRoutes(redis_server.url, redis_server.password, 60.0)
    try:
        with pytest.raises(ValueError, match="webhook URL"):
            await routes.register("call-a", url)
    finally:
        await routes.close()
    assert direct(redis_server).keys() == []


async def test_a_poisoned_route_written_into_redis_is_refused_on_lookup(
    redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    direct(redis_server).set(KEY_PREFIX + "call-a", "http://evil.example/collect")
    direct(redis_server).set(KEY_PREFIX + "call-b", "file:///etc/passwd#/webhook")
    routes = ActionRoutes(redis_server.url, redis_server.password, 60.0)
    caplog.set_level(logging.WARNING, logger="dialogue.action_routes")
    try:
        assert await routes.lookup("call-a") is None
        assert await routes.lookup("call-b") is None
    finally:
        await routes.close()
    refused = [r for r in caplog.records if r.getMessage() == "dialogue.action_routes.bad_route"]
    assert [r.ivr_fields["conversation"] for r in refused] == ["call-a", "call-b"]  # type: ignore[attr-defined]
    assert all("webhook URL" in r.ivr_fields["reason"] for r in refused)  # type: ignore[attr-defined]


async def test_a_redis_that_went_away_is_routes_unavailable(redis_server: RedisProcess) -> None:
    routes = ActionRoutes(redis_server.url, redis_server.password, 60.0, timeout_s=1.0)
    try:
        await routes.register("call-a", NODE_1)
        redis_server.remove()
        for attempt in (
            routes.lookup("call-a"),
            routes.register("call-b", NODE_2),
            routes.forget("call-a"),
        ):
            with pytest.raises(RoutesUnavailable, match=f"action routes at {redis_server.url}"):
                await attempt
    finally:
        await routes.close()


def test_making_a_registry_connects_to_nothing_and_hides_a_password_in_the_url() -> None:
    routes = ActionRoutes("redis://:hunter2@127.0.0.1:1/0", None, 60.0)  # nothing listens on 1
    assert routes.url == "redis://***@127.0.0.1:1/0"
    with pytest.raises(ValueError, match="lifetime must be positive"):
        ActionRoutes("redis://127.0.0.1:1/0", None, 0)
