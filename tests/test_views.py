"""The Django face: auth and webhook views, message_view, middleware, template tag, checks, commands."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.template import Context, Template
from django.test import Client, RequestFactory, override_settings

import pushbridge
from pushbridge import auth, checks, signals, signing
from pushbridge.testing import assert_channel_allowed, assert_channel_denied

pytestmark = pytest.mark.django_db

CREDENTIALS = {"BACKEND": "memory", "APP_ID": "1", "KEY": "app-key", "SECRET": "app-secret"}


@pytest.fixture(autouse=True)
def rules() -> Iterator[None]:
    saved = list(auth.rules)
    auth.rules.clear()

    @pushbridge.channel("private-user.{user_id:int}")
    def own(user: User, user_id: int) -> bool:
        return bool(user.pk == user_id)

    @pushbridge.channel("presence-room-{room}")
    def room(user: User, room: str) -> Any:
        return {"name": user.username, "room": room} if room != "closed" else False

    @pushbridge.channel("private-encrypted-inbox")
    def inbox(user: User) -> bool:
        return True

    @pushbridge.channel("private-lobby", allow_anonymous=True)
    def lobby(user: Any) -> bool:
        return True

    with override_settings(PUSHBRIDGE={"default": {**CREDENTIALS, "ENCRYPTION_MASTER_KEY": "A" * 43 + "="}}):
        yield
    auth.rules[:] = saved


@pytest.fixture
def ann() -> User:
    return User.objects.create_user("ann", password="pw")


@pytest.fixture
def browser(ann: User) -> Client:
    """A logged-in client that enforces CSRF like a real browser session."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(ann)
    client.get("/pushbridge/auth/")  # any request sets up the session
    return client


def csrf_post(client: Client, url: str, data: dict[str, str], **extra: Any) -> Any:
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    return client.post(url, data, headers={"X-CSRFToken": token, **extra.pop("headers", {})}, **extra)


# -- channel auth --------------------------------------------------------------------------------


def test_private_channel_auth(browser: Client, ann: User) -> None:
    response = csrf_post(browser, "/pushbridge/auth/", {"socket_id": "1.2", "channel_name": f"private-user.{ann.pk}"})
    assert response.status_code == 200
    signing.verify_token("app-key", "app-secret", response.json()["auth"], f"1.2:private-user.{ann.pk}")


def test_presence_auth_carries_member_info(browser: Client, ann: User) -> None:
    response = csrf_post(browser, "/pushbridge/auth/", {"socket_id": "1.2", "channel_name": "presence-room-blue"})
    reply = response.json()
    assert json.loads(reply["channel_data"]) == {"user_id": str(ann.pk), "user_info": {"name": "ann", "room": "blue"}}
    signing.verify_token("app-key", "app-secret", reply["auth"], f"1.2:presence-room-blue:{reply['channel_data']}")


def test_encrypted_auth_has_shared_secret(browser: Client) -> None:
    reply = csrf_post(browser, "/pushbridge/auth/", {"socket_id": "1.2", "channel_name": "private-encrypted-inbox"})
    assert set(reply.json()) == {"auth", "shared_secret"}


def test_json_body_is_accepted(browser: Client) -> None:
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    browser.cookies["csrftoken"] = token
    response = browser.post(
        "/pushbridge/auth/",
        json.dumps({"socket_id": "1.2", "channel_name": "private-lobby"}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200


def test_csrf_is_enforced(browser: Client) -> None:
    response = browser.post("/pushbridge/auth/", {"socket_id": "1.2", "channel_name": "private-lobby"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ("private-user.999", "refused 'private-user.999'"),
        ("presence-room-closed", "refused 'presence-room-closed'"),
        ("private-unknown", "No authorization callback matches channel 'private-unknown'"),
    ],
)
def test_refusals_explain_themselves_in_debug(browser: Client, channel: str, reason: str) -> None:
    with override_settings(DEBUG=True):
        response = csrf_post(browser, "/pushbridge/auth/", {"socket_id": "1.2", "channel_name": channel})
    assert response.status_code == 403
    assert reason in response.json()["error"]


def test_refusals_say_little_without_debug(browser: Client) -> None:
    response = csrf_post(browser, "/pushbridge/auth/", {"socket_id": "1.2", "channel_name": "private-user.999"})
    assert response.status_code == 403
    assert response.json() == {"error": "Forbidden."}


def test_anonymous_users_are_refused_unless_allowed() -> None:
    client = Client()
    with override_settings(DEBUG=True):
        refused = client.post("/pushbridge/auth/", {"socket_id": "1.2", "channel_name": "presence-room-blue"})
        allowed = client.post("/pushbridge/auth/", {"socket_id": "1.2", "channel_name": "private-lobby"})
    assert refused.status_code == 403
    assert "requires a logged-in user" in refused.json()["error"]
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channel_name": "private-lobby"}, "Both socket_id and channel_name are required"),
        ({"socket_id": "nope", "channel_name": "private-lobby"}, "Socket id 'nope' is malformed"),
    ],
)
def test_bad_auth_requests_are_400(data: dict[str, str], message: str) -> None:
    response = Client().post("/pushbridge/auth/", data)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_encrypted_channels_need_a_pattern_that_names_them(browser: Client) -> None:
    """A catch-all written for private channels must not hand out an encrypted channel's secret."""

    @pushbridge.channel("private-{name}")
    def any_private(user: User, name: str) -> bool:
        return True

    with override_settings(DEBUG=True):
        plain = csrf_post(browser, "/pushbridge/auth/", {"socket_id": "1.2", "channel_name": "private-notes"})
        refused = csrf_post(browser, "/pushbridge/auth/", {"socket_id": "1.2", "channel_name": "private-encrypted-x"})
        named = csrf_post(browser, "/pushbridge/auth/", {"socket_id": "1.2", "channel_name": "private-encrypted-inbox"})
    assert plain.status_code == 200
    assert refused.status_code == 403
    assert "shared_secret" not in refused.json()
    assert refused.json()["error"] == (
        "Channel 'private-encrypted-x' is end-to-end encrypted and only a pattern that names "
        "'private-encrypted-' authorises it; 'private-{name}' matched but does not."
    )
    assert named.status_code == 200
    assert "shared_secret" in named.json()


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
@pytest.mark.parametrize("url", ["/pushbridge/auth/", "/pushbridge/user-auth/", "/echo/"])
def test_deeply_nested_bodies_are_400(browser: Client, url: str, depth: int) -> None:
    body = '{"socket_id": "1.2", "channel_name": "private-lobby", "x": ' + "[" * depth + "]" * depth + "}"
    response = browser.post(url, body, content_type="application/json", headers={"X-CSRFToken": _token(browser)})
    assert response.status_code == 400
    assert response.json() == {"error": "The request body's JSON nests more than 32 levels deep; the limit is 32."}


def test_bodies_at_the_depth_limit_pass(browser: Client) -> None:
    nested = "[" * 31 + "]" * 31  # level 1 is the object itself
    body = '{"x": ' + nested + "}"
    response = browser.post("/echo/", body, content_type="application/json", headers={"X-CSRFToken": _token(browser)})
    assert response.status_code == 200


def test_message_view_deep_body_is_400_for_forms_too(browser: Client) -> None:
    body = '{"text": "hi", "room": 1, "x": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"
    response = browser.post(
        "/messages/", body, content_type="application/json", headers={"X-CSRFToken": _token(browser)}
    )
    assert response.status_code == 400
    assert "the limit is 32" in response.json()["error"]


def _token(client: Client) -> str:
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    return token


def test_auth_needs_post() -> None:
    assert Client().get("/pushbridge/auth/").status_code == 405


def test_callback_helpers(ann: User) -> None:
    assert assert_channel_allowed(ann, "presence-room-red").user_info == {"name": "ann", "room": "red"}
    assert_channel_denied(ann, "presence-room-closed")
    assert_channel_denied(AnonymousUser(), f"private-user.{ann.pk}")
    with pytest.raises(AssertionError, match="to be refused"):
        assert_channel_denied(ann, f"private-user.{ann.pk}")


def test_member_shape_is_unwrapped(ann: User) -> None:
    saved = list(auth.rules)
    pushbridge.channel("presence-shaped")(lambda user: {"user_info": {"name": "Ann"}})
    try:
        decision = assert_channel_allowed(ann, "presence-shaped")
    finally:
        auth.rules[:] = saved
    assert (decision.user_info, decision.user_id) == ({"name": "Ann"}, None)


def test_pattern_converters() -> None:
    regex, converters = auth.compile_pattern("private-doc.{doc:uuid}.{part:int}")
    match = regex.fullmatch("private-doc.12345678-1234-5678-1234-567812345678.3")
    assert match is not None
    assert converters["part"]("3") == 3
    with pytest.raises(pushbridge.errors.ConfigurationError, match="unknown converter 'float'"):  # type: ignore[attr-defined]
        auth.compile_pattern("private-{x:float}")


# -- user auth (signin) ----------------------------------------------------------------------------


def test_user_auth(browser: Client, ann: User) -> None:
    reply = csrf_post(browser, "/pushbridge/user-auth/", {"socket_id": "1.2"}).json()
    assert json.loads(reply["user_data"]) == {"id": str(ann.pk), "user_info": {"name": "ann"}}
    signing.verify_token("app-key", "app-secret", reply["auth"], f"1.2::user::{reply['user_data']}")


def custom_user_data(request: Any) -> dict[str, Any]:
    return {"id": f"u{request.user.pk}", "watchlist": []}


def test_user_data_builder_setting(browser: Client, ann: User) -> None:
    with override_settings(PUSHBRIDGE_USER_DATA="tests.test_views.custom_user_data"):
        reply = csrf_post(browser, "/pushbridge/user-auth/", {"socket_id": "1.2"}).json()
    assert json.loads(reply["user_data"]) == {"id": f"u{ann.pk}", "watchlist": []}


def test_user_auth_needs_login() -> None:
    assert Client().post("/pushbridge/user-auth/", {"socket_id": "1.2"}).status_code == 403


# -- webhooks ---------------------------------------------------------------------------------------


def post_webhook(body: dict[str, Any], *, key: str = "app-key", secret: str = "app-secret") -> Any:
    raw = json.dumps(body)
    return Client().post(
        "/pushbridge/webhooks/",
        raw,
        content_type="application/json",
        headers={"X-Pusher-Key": key, "X-Pusher-Signature": signing.sign_webhook(secret, raw)},
    )


@pytest.fixture
def received() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    receivers = {}
    for name, signal in signals.WEBHOOK_SIGNALS.items():

        def receiver(sender: str, _name: str = name, **kwargs: Any) -> None:
            seen.append((_name, {"sender": sender, **kwargs}))

        receivers[name] = receiver
        signal.connect(receiver)
    yield seen
    for name, signal in signals.WEBHOOK_SIGNALS.items():
        signal.disconnect(receivers[name])


def test_webhook_batch_becomes_signals(received: list[tuple[str, dict[str, Any]]]) -> None:
    events = [
        {"name": "channel_occupied", "channel": "c"},
        {"name": "member_added", "channel": "presence-r", "user_id": "7"},
        {"name": "client_event", "channel": "private-c", "event": "client-typing", "data": "{}", "socket_id": "1.2"},
        {"name": "cache_miss", "channel": "cache-c"},
        {"name": "member_removed", "channel": "presence-r", "user_id": "7"},
        {"name": "channel_vacated", "channel": "c"},
        {"name": "something_new", "channel": "c"},
    ]
    response = post_webhook({"time_ms": int(time.time() * 1000), "events": events})
    assert response.status_code == 200
    assert [name for name, _ in received] == [
        "channel_occupied",
        "member_added",
        "client_event",
        "cache_miss",
        "member_removed",
        "channel_vacated",
    ]
    added = received[1][1]
    assert (added["sender"], added["channel"], added["user_id"]) == ("default", "presence-r", "7")
    client = received[2][1]
    assert (client["event"], client["socket_id"]) == ("client-typing", "1.2")


def test_redelivered_batch_is_ignored(received: list[tuple[str, dict[str, Any]]]) -> None:
    body = {"time_ms": int(time.time() * 1000), "events": [{"name": "channel_occupied", "channel": "once"}]}
    assert post_webhook(body).status_code == 200
    second = post_webhook(body)
    assert second.json() == {"ok": True, "duplicate": True}
    assert len(received) == 1


def test_failing_receiver_lets_pusher_retry() -> None:
    def broken(sender: str, **kwargs: Any) -> None:
        raise RuntimeError("database down")

    signals.channel_occupied.connect(broken)
    body = {"time_ms": int(time.time() * 1000), "events": [{"name": "channel_occupied", "channel": "retry"}]}
    try:
        with pytest.raises(RuntimeError):
            post_webhook(body)
    finally:
        signals.channel_occupied.disconnect(broken)
    assert post_webhook(body).json() == {"ok": True}  # not taken for a duplicate


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"key": "other"}, "is not this app's key"), ({"secret": "wrong"}, "does not match the body")],
)
def test_bad_webhooks_are_401(kwargs: dict[str, str], message: str) -> None:
    response = post_webhook({"time_ms": int(time.time() * 1000), "events": []}, **kwargs)
    assert response.status_code == 401
    assert message in response.json()["error"]


# -- message_view and the middleware -----------------------------------------------------------------


def test_message_view_saves_and_pushes_to_others(browser: Client, ann: User, pushbridge_outbox: Any) -> None:
    from tests.testapp.models import Room

    room = Room.objects.create(name="r")
    response = csrf_post(browser, "/messages/", {"text": "hi", "room": str(room.pk)}, headers={"X-Socket-ID": "5.6"})
    assert response.status_code == 200
    assert response.json()["socket_id"] == "5.6"
    pushbridge_outbox.assert_triggered(f"room-{room.pk}", "show-message", socket_id="5.6")


def test_message_view_json_body_and_field_errors(browser: Client) -> None:
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    browser.cookies["csrftoken"] = token
    response = browser.post(
        "/messages/", json.dumps({"text": ""}), content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid data in: text, room."
    assert body["fields"] == {"text": ["This field is required."], "room": ["This field is required."]}


def test_message_view_rejects_non_objects_and_get(browser: Client) -> None:
    response = Client().post("/echo/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert "must be a JSON object, not list" in response.json()["error"]
    not_allowed = Client().get("/echo/")
    assert (not_allowed.status_code, not_allowed["Allow"]) == (405, "POST")


def test_message_view_requires_login_by_default() -> None:
    """An anonymous POST never reaches a handler that saves ``author=request.user``."""
    from tests.testapp.models import Message

    response = Client().post("/messages/", {"text": "hi", "room": "1"})
    assert (response.status_code, response.json()) == (403, {"error": "Login required."})
    assert not Message.objects.exists()


def test_message_view_login_can_be_waived(pushbridge_outbox: Any) -> None:
    response = Client().post("/echo/", {"x": "1"})  # echo is login_required=False
    assert response.status_code == 200
    pushbridge_outbox.assert_triggered("echo", "echoed", data={"x": "1"})


def test_message_view_forms_see_every_value_and_files() -> None:
    from django import forms
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import RequestFactory

    class TagsForm(forms.Form):
        tags = forms.MultipleChoiceField(choices=[("a", "a"), ("b", "b")])
        upload = forms.FileField()

    @pushbridge.message_view(TagsForm, login_required=False)
    def tagged(request: Any, data: dict[str, Any]) -> dict[str, Any]:
        return {"tags": data["tags"], "file": data["upload"].read().decode()}

    request = RequestFactory().post("/", {"tags": ["a", "b"], "upload": SimpleUploadedFile("n.txt", b"hello")})
    request.user = AnonymousUser()
    response = tagged(request)
    assert json.loads(response.content) == {"tags": ["a", "b"], "file": "hello"}


def test_message_view_keeps_csrf(browser: Client) -> None:
    assert browser.post("/echo/", {"x": "1"}).status_code == 403


def test_middleware_ignores_bad_socket_ids(pushbridge_outbox: Any) -> None:
    response = Client().post("/echo/", {"x": "1"}, headers={"X-Socket-ID": "not-a-socket"})
    assert response.json()["socket_id"] is None
    pushbridge_outbox.assert_triggered("echo", "echoed", data={"x": "1"}, socket_id=None)


# -- template tag ------------------------------------------------------------------------------------


def rendered_config(html: str) -> dict[str, Any]:
    start = html.index('<script id="pushbridge-config" type="application/json">')
    body = html[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)  # type: ignore[no-any-return]


def test_template_tag_renders_config_without_the_secret() -> None:
    request = RequestFactory().get("/")
    with override_settings(
        PUSHBRIDGE={"default": {"BACKEND": "soketi", "HOST": "ws.example.com", "PORT": 6001, "SECRET": "s3cr3t"}}
    ):
        html = Template("{% load pushbridge %}{% pushbridge_js %}").render(Context({"request": request}))
    assert "s3cr3t" not in html
    assert '<script src="/static/pushbridge/pushbridge.js"></script>' in html
    config = rendered_config(html)
    assert config["key"] == "app-key"
    assert (config["wsHost"], config["wsPort"], config["forceTLS"]) == ("ws.example.com", 6001, False)
    assert config["channelAuthorization"] == {"endpoint": "/pushbridge/auth/"}
    assert config["userAuthentication"] == {"endpoint": "/pushbridge/user-auth/"}
    assert config["csrfHeaderName"] == "X-CSRFTOKEN"
    assert config["csrfToken"]


def test_template_tag_for_hosted_pusher_and_client_options() -> None:
    entry = {"BACKEND": "pusher", "APP_ID": "1", "KEY": "k", "SECRET": "s", "CLUSTER": "eu",
             "CLIENT_OPTIONS": {"activityTimeout": 30000}}  # fmt: skip
    with override_settings(PUSHBRIDGE={"default": entry}):
        html = Template("{% load pushbridge %}{% pushbridge_config %}").render(Context({}))
    config = rendered_config(html)
    assert (config["wsHost"], config["forceTLS"], config["cluster"]) == ("ws-eu.pusher.com", True, "eu")
    assert config["activityTimeout"] == 30000
    assert "csrfToken" not in config


def test_each_alias_gets_its_own_config_element() -> None:
    entries = {"default": {"BACKEND": "memory", "KEY": "a"}, "other": {"BACKEND": "memory", "KEY": "b"}}
    with override_settings(PUSHBRIDGE=entries):
        html = Template("{% load pushbridge %}{% pushbridge_config %}{% pushbridge_config using='other' %}").render(
            Context({})
        )
    assert 'id="pushbridge-config"' in html
    assert 'id="pushbridge-config-other"' in html


def test_template_tag_for_a_hosted_pusher_url() -> None:
    with override_settings(PUSHBRIDGE={"default": {"URL": "https://k:s@api-eu.pusher.com/apps/1"}}):
        config = rendered_config(Template("{% load pushbridge %}{% pushbridge_config %}").render(Context({})))
    assert (config["wsHost"], config["cluster"], config["forceTLS"]) == ("ws-eu.pusher.com", "eu", True)


# -- system checks and commands -----------------------------------------------------------------------


def test_checks_report_bad_settings() -> None:
    with override_settings(PUSHBRIDGE={"default": {"BACKEND": "pusher"}}):
        [error] = checks.check_settings()
    assert error.id == "pushbridge.E002"
    assert "['APP_ID'] is required" in error.msg
    with override_settings(PUSHBRIDGE={"default": {"BACKEND": "nope.Backend"}}):
        assert "cannot be imported" in checks.check_settings()[0].msg
    assert checks.check_settings() == []


def test_checks_suggest_the_backend_meant() -> None:
    with override_settings(PUSHBRIDGE={"default": {"BACKEND": "embeded"}}):
        [error] = checks.check_settings()
    assert error.id == "pushbridge.E002"
    assert error.msg == (
        "PUSHBRIDGE['default']['BACKEND'] = 'embeded' is not a backend; did you mean 'embedded'? "
        "(one of 'pusher', 'soketi', 'embedded', 'memory', or a dotted path to a class)"
    )


def test_check_reports_a_missing_urls_include() -> None:
    assert checks.check_urls_included() == []
    with override_settings(ROOT_URLCONF="tests.urls_without_pushbridge"):
        [warning] = checks.check_urls_included()
        assert warning.id == "pushbridge.W002"
        assert "pushbridge.urls is not included in tests.urls_without_pushbridge" in warning.msg
        assert "4 authorization callback(s) are registered" in warning.msg
        assert warning.hint == 'Add path("pushbridge/", include("pushbridge.urls")) to urlpatterns.'
        out = StringIO()
        call_command("check", stdout=out, stderr=out)
        assert "pushbridge.W002" in out.getvalue()


def test_checks_report_missing_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUSHBRIDGE_URL", raising=False)
    from django.conf import settings

    with override_settings():
        del settings.PUSHBRIDGE
        [error] = checks.check_settings()
    assert error.id == "pushbridge.E001"


def test_deploy_check_warns_about_memory_backend() -> None:
    [warning] = checks.check_memory_in_production()
    assert warning.id == "pushbridge.W001"
    with override_settings(DEBUG=True):
        assert checks.check_memory_in_production() == []


def test_trigger_command(pushbridge_outbox: Any) -> None:
    out = StringIO()
    call_command("pushbridge_trigger", "a,b", "news", '{"n": 1}', "--socket-id", "1.2", stdout=out)
    assert "Triggered 'news' on a, b" in out.getvalue()
    pushbridge_outbox.assert_triggered("b", "news", data={"n": 1}, socket_id="1.2")


@pytest.mark.parametrize(
    ("args", "message"),
    [(["c", "e", "{not json"], "DATA is not valid JSON"), (["bad channel", "e"], "contains ' '")],
)
def test_trigger_command_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("pushbridge_trigger", *args)


def test_check_command_with_memory_backend() -> None:
    out = StringIO()
    call_command("pushbridge_check", stdout=out)
    assert "no server to reach; settings OK" in out.getvalue()


def test_check_command_fails_with_the_reason() -> None:
    entry = {"BACKEND": "soketi", "PORT": 9, "RETRIES": 0, "TIMEOUT": 1}
    with override_settings(PUSHBRIDGE={"default": entry}), pytest.raises(CommandError, match="Could not connect"):
        call_command("pushbridge_check")
