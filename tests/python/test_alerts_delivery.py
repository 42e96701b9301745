"""Alert delivery end to end: evaluate_alerts queues, the dispatcher delivers to a real local
HTTP server (webhook, Slack) and a real local SMTP server, and records every attempt. Each
evaluation is at an explicit time, so nothing waits for minutes; retries wait a few hundredths
of a second."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agent_analytics import cli
from agent_analytics.alerts import dispatcher, targets
from agent_analytics.alerts.settings import AlertSettings, AlertSettingsError, SmtpServer, parse_smtp_url
from conftest import PROJECT, ProjectDatabase, wait_until

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def alerts_db(make_database) -> ProjectDatabase:
    """A built database of this module's own: its tests write rules, alerts and notifications."""
    project_db = make_database(seed=7)
    project_db.build(data_tests=False)
    return project_db


@pytest.fixture(autouse=True)
def no_rules_left(request):
    """Every test starts and ends without rules (and so without states, alerts and notifications)."""
    yield
    if "alerts_db" in request.fixturenames:
        with request.getfixturevalue("alerts_db").connect() as conn:
            conn.execute("delete from analytics.alert_rules")


@pytest.fixture
def receiver():
    """A local HTTP server that handles requests in threads (a handler may hold one)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


class Mailbox:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, SmtpServer(host="127.0.0.1", port=controller.port, implicit_tls=False)
    controller.stop()


@pytest.fixture
def settings(mailbox) -> AlertSettings:
    return AlertSettings(smtp=mailbox[1], sender="alerts@example.com", allow_private_targets=True, attempts=3,
                         retry_base_seconds=0.05, retry_max_seconds=0.2, timeout_seconds=5,
                         public_url="https://analytics.example.com")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def last_run(alerts_db) -> tuple[str, datetime]:
    """The workspace with the latest run, and when it started: a rule `total_runs > 0` over an
    hour fires just after it and resolves an hour later."""
    return alerts_db.rows(
        "select workspace_id::text, max(started_at) from analytics_internal.int_agent_runs "
        "where workspace_id is not null group by 1 order by 2 desc limit 1")[0]


def add_rule(project_db: ProjectDatabase, workspace_id: str | None, recipients: list, *,
             channels: list[str] | None = None, condition: str = "greater_than", threshold: float = 0,
             renotify_minutes: int | None = None, name: str = "Runs seen") -> str:
    channels = channels or sorted({r["channel"] if isinstance(r, dict) else "webhook" if "://" in r else "email"
                                   for r in recipients})
    with project_db.connect() as conn:
        return str(conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, "
            "evaluation_window_minutes, notification_channels, notification_recipients, renotify_minutes) "
            "values (%s, %s, 'total_runs', %s, %s, 60, %s, %s, %s) returning id",
            (workspace_id, name, condition, threshold, json.dumps(channels), json.dumps(recipients),
             renotify_minutes)).fetchone()[0])


def notifications(project_db: ProjectDatabase) -> list[tuple]:
    return project_db.rows("select event, channel, status, attempts, last_error from analytics.alert_notifications "
                           "order by created_at, channel, target")


def attempts_recorded(project_db: ProjectDatabase) -> list[dict]:
    return [entry for (sent,) in project_db.rows(
        "select notifications_sent from analytics.alert_history order by triggered_at") for entry in sent]


def requests_to(server: HTTPServer, path: str) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


def answer(status: int = 200):
    return lambda request: Response("ok", status=status)


# ---------------------------------------------------------------- end to end


def test_a_crossing_sends_exactly_one_notification_per_channel(alerts_db, receiver, mailbox, settings, last_run):
    workspace, started = last_run
    for path in ("/hook", "/slack"):
        receiver.expect_request(path, method="POST").respond_with_handler(answer())
    add_rule(alerts_db, workspace, [receiver.url_for("/hook"), {"channel": "slack", "target": receiver.url_for("/slack")},
                                    "ops@example.com"])
    summary = dispatcher.run_once(alerts_db.target, settings, at=started + timedelta(minutes=1))
    assert summary.fired == 1
    dispatcher.run_once(alerts_db.target, settings, at=started + timedelta(minutes=2))  # still firing: nothing new

    assert len(requests_to(receiver, "/hook")) == 1
    assert len(requests_to(receiver, "/slack")) == 1
    assert len(mailbox[0].envelopes) == 1
    assert sorted((event, channel, status) for event, channel, status, *_ in notifications(alerts_db)) == [
        ("firing", "email", "sent"), ("firing", "slack", "sent"), ("firing", "webhook", "sent")]
    assert alerts_db.rows("select state, notification_status from analytics.alert_history") == [("firing", "sent")]
    recorded = attempts_recorded(alerts_db)
    assert sorted(entry["channel"] for entry in recorded) == ["email", "slack", "webhook"]
    assert {entry["status"] for entry in recorded} == {"sent"}
    assert {entry["target"] for entry in recorded} == {"ops@example.com", f"http://127.0.0.1:{receiver.port}/…"}


def test_the_webhook_is_signed_with_the_workspace_secret(alerts_db, receiver, settings, last_run):
    workspace, started = last_run
    receiver.expect_request("/hook", method="POST").respond_with_handler(answer())
    add_rule(alerts_db, workspace, [receiver.url_for("/hook")], name="Signed")
    dispatcher.run_once(alerts_db.target, settings, at=started + timedelta(minutes=1))

    [request] = requests_to(receiver, "/hook")
    body = request.get_data()
    secret = alerts_db.value("select analytics.webhook_secret(%s)", (workspace,))
    signature = request.headers["X-Analytics-Signature"]
    assert hmac.compare_digest(signature, "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())
    assert not hmac.compare_digest(signature, "sha256=" + hmac.new(b"another", body, hashlib.sha256).hexdigest())
    payload = json.loads(body)
    notification_id = alerts_db.value("select id::text from analytics.alert_notifications")
    assert request.headers["Idempotency-Key"] == payload["idempotency_key"] == notification_id
    assert payload["event"] == "firing" and payload["rule_name"] == "Signed"
    assert payload["workspace_id"] == workspace and payload["threshold"] == 0 and payload["value"] >= 1
    assert payload["link"] == f"https://analytics.example.com/alerts/{payload['alert_id']}"


def test_the_slack_message_is_block_kit_with_the_figures_and_a_link(alerts_db, receiver, settings, last_run):
    workspace, started = last_run
    receiver.expect_request("/slack", method="POST").respond_with_handler(answer())
    add_rule(alerts_db, workspace, [{"channel": "slack", "target": receiver.url_for("/slack")}], name="Busy <team>")
    dispatcher.run_once(alerts_db.target, settings, at=started + timedelta(minutes=1))

    [request] = requests_to(receiver, "/slack")
    message = json.loads(request.get_data())
    workspace_name = alerts_db.value("select name from public.workspaces where id = %s", (workspace,))
    value = alerts_db.value("select last_value from analytics.alert_rule_states")
    assert message["text"].startswith("[FIRING] Busy <team>: total_runs")
    header, section, actions = message["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert "Busy <team>" in header["text"]["text"]
    assert section["type"] == "section"
    fields = "\n".join(field["text"] for field in section["fields"])
    assert "total_runs" in fields and f"{value} runs" in fields and "&gt; 0 runs" in fields
    assert workspace_name in fields and "*Since*" in fields
    [button] = actions["elements"]
    alert_id = alerts_db.value("select id::text from analytics.alert_history")
    assert button["type"] == "button" and button["url"] == f"https://analytics.example.com/alerts/{alert_id}"


def test_the_email_has_plain_and_html_parts_and_the_right_headers(alerts_db, mailbox, settings, last_run):
    workspace, started = last_run
    add_rule(alerts_db, workspace, ["ops@example.com"], channels=["email"], name="Runs & <b>more</b>")
    dispatcher.run_once(alerts_db.target, settings, at=started + timedelta(minutes=1))

    [envelope] = mailbox[0].envelopes
    assert envelope.mail_from == "alerts@example.com" and envelope.rcpt_tos == ["ops@example.com"]
    import email
    from email import policy
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert message["From"] == "alerts@example.com" and message["To"] == "ops@example.com"
    assert message["Subject"].startswith("[FIRING] Runs & <b>more</b>: total_runs ")
    assert message["Subject"].endswith("> 0 runs")
    notification_id = alerts_db.value("select id::text from analytics.alert_notifications")
    assert message["Message-ID"] == f"<{notification_id}@example.com>"
    plain = message.get_body(("plain",)).get_content()
    rich = message.get_body(("html",)).get_content()
    assert "Runs & <b>more</b>" in plain and "https://analytics.example.com/alerts/" in plain
    assert "Runs &amp; &lt;b&gt;more&lt;/b&gt;" in rich and "<b>more</b>" not in rich


def test_a_firing_alert_is_sent_again_once_per_renotify_interval(alerts_db, receiver, settings, last_run):
    workspace, started = last_run
    receiver.expect_request("/hook", method="POST").respond_with_handler(answer())
    add_rule(alerts_db, workspace, [receiver.url_for("/hook")], renotify_minutes=10)
    for minutes in (1, 5, 10, 11, 15, 20, 21, 25):
        dispatcher.run_once(alerts_db.target, settings, at=started + timedelta(minutes=minutes))
    events = [json.loads(request.get_data())["event"] for request in requests_to(receiver, "/hook")]
    assert events == ["firing", "renotify", "renotify"]
    assert len({request.headers["Idempotency-Key"] for request in requests_to(receiver, "/hook")}) == 3


def test_recovery_sends_one_resolved_notification(alerts_db, receiver, settings, last_run):
    workspace, started = last_run
    receiver.expect_request("/hook", method="POST").respond_with_handler(answer())
    add_rule(alerts_db, workspace, [receiver.url_for("/hook")])
    for minutes in (1, 61, 62):
        dispatcher.run_once(alerts_db.target, settings, at=started + timedelta(minutes=minutes))
    bodies = [json.loads(request.get_data()) for request in requests_to(receiver, "/hook")]
    assert [body["event"] for body in bodies] == ["firing", "resolved"]
    assert bodies[1]["value"] == 0 and bodies[1]["resolved_at"] is not None
    assert alerts_db.rows("select state, notification_status from analytics.alert_history") == [("resolved", "sent")]


def test_a_5xx_is_retried_and_delivered_once_with_both_attempts_recorded(alerts_db, receiver, settings, last_run):
    workspace, started = last_run
    answers = iter([500, 200])
    receiver.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: Response("", status=next(answers, 200)))
    add_rule(alerts_db, workspace, [receiver.url_for("/hook")])
    dispatcher.run_once(alerts_db.target, settings, at=started + timedelta(minutes=1))

    sent = requests_to(receiver, "/hook")
    assert len(sent) == 2
    assert sent[0].headers["Idempotency-Key"] == sent[1].headers["Idempotency-Key"]
    assert sent[0].get_data() == sent[1].get_data()
    assert notifications(alerts_db) == [("firing", "webhook", "sent", 2, "HTTP 500 from "
                                         f"http://127.0.0.1:{receiver.port}/…")]
    assert [(entry["attempt"], entry["status"]) for entry in attempts_recorded(alerts_db)] == [
        (1, "retrying"), (2, "sent")]
    assert alerts_db.value("select notification_status from analytics.alert_history") == "sent"


def test_an_unreachable_receiver_fails_after_the_last_attempt(alerts_db, settings, last_run):
    workspace, started = last_run
    add_rule(alerts_db, workspace, [f"http://127.0.0.1:{free_port()}/hook"])
    dispatcher.run_once(alerts_db.target, settings, at=started + timedelta(minutes=1))

    [(event, channel, status, attempts, error)] = notifications(alerts_db)
    assert (status, attempts) == ("failed", 3)
    assert "cannot reach http://127.0.0.1:" in error and "gave up after 3 attempts" in error
    assert [(entry["attempt"], entry["status"]) for entry in attempts_recorded(alerts_db)] == [
        (1, "retrying"), (2, "retrying"), (3, "failed")]
    assert alerts_db.value("select notification_status from analytics.alert_history") == "failed"


def test_a_private_target_is_refused_without_a_request(alerts_db, receiver, settings, last_run):
    workspace, started = last_run
    receiver.expect_request("/hook", method="POST").respond_with_handler(answer())
    add_rule(alerts_db, workspace, [receiver.url_for("/hook"), "http://169.254.169.254/latest/meta-data/"])
    strict = dataclasses.replace(settings, allow_private_targets=False)
    dispatcher.run_once(alerts_db.target, strict, at=started + timedelta(minutes=1))

    assert receiver.log == []
    rows = notifications(alerts_db)
    assert [(status, attempts) for _, _, status, attempts, _ in rows] == [("failed", 1), ("failed", 1)]
    errors = sorted(error for *_, error in rows)
    assert "refused http://127.0.0.1:" in errors[0] and "127.0.0.1, which is not a public address" in errors[0]
    assert "169.254.169.254, which is not a public address" in errors[1]
    assert "meta-data" not in " ".join(errors)
    assert alerts_db.value("select notification_status from analytics.alert_history") == "failed"


def test_two_dispatchers_at_once_send_nothing_twice(alerts_db, receiver, settings, last_run):
    workspace, started = last_run

    def slowly(request: Request) -> Response:
        time.sleep(0.2)  # both dispatchers are busy at once
        return Response("ok")

    paths = [f"/hook{n}" for n in range(6)]
    for path in paths:
        receiver.expect_request(path, method="POST").respond_with_handler(slowly)
    add_rule(alerts_db, workspace, [receiver.url_for(path) for path in paths])
    at = started + timedelta(minutes=1)
    threads = [threading.Thread(target=dispatcher.run_once, args=(alerts_db.target, settings, at)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(request.path for request, _ in receiver.log) == paths
    assert {status for _, _, status, *_ in notifications(alerts_db)} == {"sent"}
    assert len(attempts_recorded(alerts_db)) == 6
    assert alerts_db.value("select notification_status from analytics.alert_history") == "sent"


def test_a_dispatcher_killed_while_sending_leaves_it_to_the_next_with_the_same_key(alerts_db, receiver, settings):
    entered, release = threading.Event(), threading.Event()

    def hold_the_first(request: Request) -> Response:
        if not entered.is_set():
            entered.set()
            release.wait(60)
        return Response("ok")

    receiver.expect_request("/hook", method="POST").respond_with_handler(hold_the_first)
    # holds at any time: the command evaluates at now
    add_rule(alerts_db, None, [receiver.url_for("/hook")], condition="less_than", threshold=99999999.99)
    env = {**os.environ, **alerts_db.target.env(), "AGENT_ANALYTICS_ALLOW_PRIVATE_TARGETS": "1"}
    command = subprocess.Popen([sys.executable, "-m", "agent_analytics.cli", "alerts", "run", "--once"], env=env,
                               cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert entered.wait(120), command.stderr.read().decode() if command.poll() is not None else "no request"
        command.send_signal(signal.SIGKILL)
        command.wait(30)
    finally:
        release.set()
        if command.poll() is None:
            command.kill()
        command.stderr.close()
    assert notifications(alerts_db)[0][2:4] == ("pending", 0)

    dispatcher.run_once(alerts_db.target, settings)
    first, second = requests_to(receiver, "/hook")
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert notifications(alerts_db) == [("firing", "webhook", "sent", 1, None)]
    assert alerts_db.value("select notification_status from analytics.alert_history") == "sent"


def test_the_dispatcher_runs_until_sigterm_and_exits_cleanly(alerts_db, receiver):
    delivered = threading.Event()

    def note(request: Request) -> Response:
        delivered.set()
        return Response("ok")

    receiver.expect_request("/hook", method="POST").respond_with_handler(note)
    add_rule(alerts_db, None, [receiver.url_for("/hook")], condition="less_than", threshold=99999999.99)
    env = {**os.environ, **alerts_db.target.env(), "AGENT_ANALYTICS_ALLOW_PRIVATE_TARGETS": "1"}
    command = subprocess.Popen([sys.executable, "-m", "agent_analytics.cli", "alerts", "run", "--interval", "0.5"],
                               env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert delivered.wait(120)
        command.send_signal(signal.SIGTERM)
        out, err = command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    assert command.returncode == 0, err
    assert "sent firing webhook" in out and out.rstrip().endswith("stopped")
    assert len(receiver.log) == 1  # evaluated again and again: the firing alert is sent once


def test_the_dispatcher_connects_again_when_its_connection_is_cut_and_loses_nothing(alerts_db, receiver, settings):
    received = []
    receiver.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: received.append(request.headers["Idempotency-Key"]) or Response("ok"))
    stop = threading.Event()
    lines: list[str] = []
    running = threading.Thread(target=dispatcher.run_forever, args=(alerts_db.target, settings, 0.3),
                               kwargs={"report": lines.append, "stop": stop})
    running.start()
    try:
        time.sleep(1)
        with alerts_db.connect_as("supabase_admin") as admin:
            cut = admin.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                "where datname = current_database() and pid <> pg_backend_pid() "
                                "and usename = %s", (alerts_db.target.user,)).fetchone()[0]
        assert cut >= 1
        add_rule(alerts_db, None, [receiver.url_for("/hook")], condition="less_than", threshold=99999999.99)
        wait_until(lambda: received, "the worker delivered nothing within 60 s of losing the database", 60, every=0.1)
    finally:
        stop.set()
        running.join(60)
    assert not running.is_alive()
    assert any(line.startswith("lost the database") for line in lines), lines
    assert len(received) == 1 and lines[-1] == "stopped"


def test_the_cli_runs_once_and_lists_the_rules(alerts_db, receiver, monkeypatch, capsys):
    receiver.expect_request("/hook", method="POST").respond_with_handler(answer())
    add_rule(alerts_db, None, [receiver.url_for("/hook")], condition="less_than", threshold=99999999.99,
             name="Always")
    for name, value in alerts_db.target.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AGENT_ANALYTICS_ALLOW_PRIVATE_TARGETS", "1")
    assert cli.main(["alerts", "run", "--once"]) == 0
    assert "sent firing webhook to http://127.0.0.1:" in capsys.readouterr().out
    assert len(receiver.log) == 1

    assert cli.main(["alerts", "list", "--json"]) == 0
    [rule] = json.loads(capsys.readouterr().out)
    assert (rule["name"], rule["workspace"], rule["state"], rule["last_notification_status"]) == (
        "Always", None, "firing", "sent")
    assert rule["open_alert_id"] == alerts_db.value("select id::text from analytics.alert_history")
    monkeypatch.setenv("COLUMNS", "200")
    assert cli.main(["alerts", "list"]) == 0
    table = capsys.readouterr().out
    assert "Always" in table and "(platform)" in table and "firing" in table


def test_a_bad_setting_stops_the_command_with_its_name(monkeypatch, capsys):
    monkeypatch.setenv("AGENT_ANALYTICS_ALERT_ATTEMPTS", "many")
    assert cli.main(["alerts", "run", "--once"]) == 1
    assert "AGENT_ANALYTICS_ALERT_ATTEMPTS must be a whole number" in capsys.readouterr().err


def test_the_readme_rule_is_accepted_and_goes_to_each_channel(alerts_db, last_run):
    readme = (PROJECT / "README.md").read_text(encoding="utf-8").split("## Alerts", 1)[1]
    statement = readme.split("```sql\n", 1)[1].split("```", 1)[0]
    statement = statement.replace("3f1c9a2e-7b5d-4e8a-9c6f-1a2b3c4d5e6f", last_run[0])
    with alerts_db.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute(statement)
        targets_by_channel = conn.execute(
            "select t.channel, t.target from analytics.alert_rules as r, "
            "analytics.alert_rule_targets(r.notification_channels, r.notification_recipients) as t "
            "order by 1").fetchall()
    assert [channel for channel, _ in targets_by_channel] == ["email", "slack", "webhook"]


# ---------------------------------------------------------------- units


def test_settings_from_the_environment():
    read = AlertSettings.from_environment({
        "AGENT_ANALYTICS_SMTP_URL": "smtps://mailer%40example.com:p%3Ass@smtp.example.com",
        "AGENT_ANALYTICS_ALERT_FROM": "alerts@example.com",
        "AGENT_ANALYTICS_ALLOW_PRIVATE_TARGETS": "1",
        "AGENT_ANALYTICS_PUBLIC_URL": "https://analytics.example.com/",
    })
    assert read.smtp == SmtpServer("smtp.example.com", 465, True, "mailer@example.com", "p:ss")
    assert read.sender == "alerts@example.com" and read.allow_private_targets
    assert read.alert_link("a1") == "https://analytics.example.com/alerts/a1"
    assert parse_smtp_url("smtp://localhost:2525") == SmtpServer("localhost", 2525, False)
    defaults = AlertSettings.from_environment({})
    assert defaults.smtp is None and not defaults.allow_private_targets
    assert (defaults.attempts, defaults.retry_base_seconds, defaults.timeout_seconds) == (5, 2.0, 10.0)
    assert [defaults.retry_delay(n) for n in (1, 2, 3, 20)] == [2, 4, 8, 300]


@pytest.mark.parametrize("name, value", [
    ("AGENT_ANALYTICS_SMTP_URL", "http://mail.example.com"),
    ("AGENT_ANALYTICS_SMTP_URL", "smtp://mail.example.com:port"),
    ("AGENT_ANALYTICS_SMTP_URL", "smtp://"),
    ("AGENT_ANALYTICS_ALERT_FROM", "not an address"),
    ("AGENT_ANALYTICS_ALLOW_PRIVATE_TARGETS", "maybe"),
    ("AGENT_ANALYTICS_ALERT_ATTEMPTS", "0"),
    ("AGENT_ANALYTICS_ALERT_RETRY_SECONDS", "-1"),
    ("AGENT_ANALYTICS_ALERT_TIMEOUT_SECONDS", "nan"),
    ("AGENT_ANALYTICS_PUBLIC_URL", "analytics.example.com"),
])
def test_a_bad_setting_is_named(name, value):
    with pytest.raises(AlertSettingsError, match=name):
        AlertSettings.from_environment({name: value})


NOT_PUBLIC = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
              "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"]


@given(st.sampled_from(NOT_PUBLIC).flatmap(
    lambda network: st.integers(0, ipaddress.ip_network(network).num_addresses - 1).map(
        lambda offset: ipaddress.ip_network(network)[offset])))
def test_private_and_special_addresses_are_not_public(address):
    assert not targets.is_public(address)
    if address.version == 4:
        assert not targets.is_public(ipaddress.IPv6Address(f"::ffff:{address}"))  # IPv4-mapped
        assert not targets.is_public(ipaddress.IPv6Address(f"64:ff9b::{address}"))  # NAT64


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("1.1.1.1", True), ("2606:4700:4700::1111", True), ("169.254.169.254", False),
    ("::ffff:169.254.169.254", False), ("::ffff:8.8.8.8", True), ("::", False), ("2002:7f00:1::", False),
])
def test_public_addresses(address, public):
    assert targets.is_public(ipaddress.ip_address(address)) is public


def test_a_name_with_any_private_address_is_refused():
    def resolver(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    with pytest.raises(targets.TargetRefused, match="10.0.0.5, which is not a public address"):
        targets.resolve_public("hooks.example.com", 443, False, resolver)
    assert targets.resolve_public("hooks.example.com", 443, True, resolver) == ["93.184.215.14", "10.0.0.5"]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com", "http:///x"])
def test_only_http_urls_with_a_host_are_targets(url):
    with pytest.raises(targets.TargetRefused):
        targets.check_url(url)


@pytest.mark.parametrize("channel, target, shown", [
    ("webhook", "https://user:secret@hooks.example.com:8443/t/SECRET?token=x#y", "https://hooks.example.com:8443/…"),
    ("slack", "https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/…"),
    ("webhook", "http://[::1]:9000/path", "http://[::1]:9000/…"),
    ("email", "ops@example.com", "ops@example.com"),
])
def test_redaction_keeps_no_secret(channel, target, shown):
    assert targets.redact(channel, target) == shown
