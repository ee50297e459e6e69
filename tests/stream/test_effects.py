"""The effect executor against a real local HTTP server (aiohttp on 127.0.0.1, a random port).

The server records every request and can be told to fail (a status) or stall (longer than the
executor's timeout) the first N requests to a path. It also plays the part of Panoptes for the
four calls the executor makes. Nothing here mocks HTTP: every request crosses a real socket.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from core.rules.actions import ACTION_COLUMNS, ActionRecord, action_id
from core.rules.rulebook import RuleBook, subject_bindings
from stream.effects import Executor, ExecutorState, RetryPolicy, StateLockedError
from stream.effects.http import EffectFailed
from tally.cli import main as tally_main

TOKEN = "s3cr3t-panoptes-token-0123456789"
HOOK_PASSWORD = "hunter2-hook-password"
FAST = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=1.0, timeout=2.0, jitter=0.0)


# --- the server --------------------------------------------------------------------------------


class Server:
    """An aiohttp app on its own thread and event loop, so tests (and the CLI, which runs its own
    event loop) talk to it over real sockets."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail: dict[str, list[int]] = {}  # path -> statuses for the next requests
        self.stall: dict[str, list[float]] = {}  # path -> seconds to wait before answering
        self.echo_secrets = False  # a misbehaving server that echoes credentials in errors
        self.retired: list[tuple[str, Any, str]] = []
        self.set_members: dict[str, list] = {}
        self.collection_members: dict[str, list] = {}
        self.preferences = {"id": "700", "settings": {"workflow_id": "10"}}
        self.levels = {"10": "1", "20": "2", "5": "0"}
        self.put_preferences: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    # lifecycle
    def __enter__(self) -> Server:
        self._thread.start()
        assert self._ready.wait(10), "test server did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self, method: str | None = None) -> list[str]:
        return [r["path"] for r in self.requests if method is None or r["method"] == method]

    # handling
    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "json": body,
                "time": time.monotonic(),
            }
        )
        path = request.path
        if self.stall.get(path):
            await asyncio.sleep(self.stall[path].pop(0))
        if self.fail.get(path):
            status = self.fail[path].pop(0)
            text = "temporarily broken"
            if self.echo_secrets:
                text += f"; you sent {request.headers.get('Authorization')}"
            return web.json_response({"errors": [{"message": text}]}, status=status)
        if path.startswith("/api/"):
            return self._panoptes(request, path[len("/api") :], body)
        return web.json_response({"ok": True})

    def _panoptes(self, request: web.Request, path: str, body: Any) -> web.Response:
        parts = path.strip("/").split("/")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"errors": [{"message": "not logged in"}]}, status=401)
        if parts[0] == "workflows" and parts[-1] == "retired_subjects":
            self.retired.append((parts[1], body["subject_id"], body["retirement_reason"]))
            return web.json_response({"workflows": [{"id": parts[1]}]})
        if parts[0] in ("subject_sets", "collections") and parts[2:] == ["links", "subjects"]:
            store = self.set_members if parts[0] == "subject_sets" else self.collection_members
            members = store.setdefault(parts[1], [])
            if any(s in members for s in body["subjects"]):
                message = (
                    "PG::UniqueViolation: duplicate key value violates unique constraint"
                    if parts[0] == "subject_sets"
                    else "Subject(s) already in the collection"
                )
                return web.json_response({"errors": [{"message": message}]}, status=422)
            members.extend(body["subjects"])
            return web.json_response({parts[0]: [{"id": parts[1]}]})
        if parts[0] == "workflows" and len(parts) == 2:
            workflow = {
                "id": parts[1],
                "configuration": {"level": self.levels.get(parts[1])},
                "links": {"project": "4000"},
            }
            return web.json_response({"workflows": [workflow]})
        if parts == ["project_preferences"]:
            return web.json_response({"project_preferences": [self.preferences]})
        if parts[0] == "project_preferences" and request.method == "GET":
            return web.json_response(
                {"project_preferences": [self.preferences]}, headers={"ETag": 'W/"etag-700"'}
            )
        if parts[0] == "project_preferences" and request.method == "PUT":
            self.put_preferences.append({"json": body, "if_match": request.headers.get("If-Match")})
            return web.json_response({"project_preferences": [self.preferences]})
        return web.json_response({"errors": [{"message": f"no route {path}"}]}, status=404)


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


@pytest.fixture
def environ(server: Server) -> dict[str, str]:
    return {
        "TALLY_PANOPTES_URL": f"{server.url}/api",
        "TALLY_PANOPTES_TOKEN": TOKEN,
        "HOOK_USER": "tally",
        "HOOK_PASSWORD": HOOK_PASSWORD,
    }


# --- helpers -----------------------------------------------------------------------------------


def _action(effect: str, config: dict, *, target: Any = 55, rule: str = "r1", index: int = 0,
            kind: str = "subject", payload: Any = None) -> ActionRecord:  # fmt: skip
    return ActionRecord(
        action_id=action_id(1, rule, kind, target, index, effect, config),
        workflow_id=1,
        rule_id=rule,
        target_kind=kind,
        subject_id=target if kind == "subject" else None,
        user_id=target if kind == "user" else None,
        effect=effect,
        config=config,
        time="2024-01-02 10:00:00 UTC",
        payload=payload,
    )


def _hook(
    server: Server, path: str = "/hook", *, target: Any = 55, auth: bool = False
) -> ActionRecord:
    config = {"url": f"{server.url}{path}", "reducer_key": "count"}
    effect = "external"
    if auth:
        effect = "external_with_basic_auth"
        config = {**config, "username_env": "HOOK_USER", "password_env": "HOOK_PASSWORD"}
    payload = {"reducer_key": "count", "data": {"classifications": 20}, "subject": {"id": target}}
    return _action(effect, config, target=target, payload=payload)


def _perform(state_path: Path, actions: list[ActionRecord], environ: dict, **options: Any):
    async def go():
        with ExecutorState.open(state_path) as state:
            executor = Executor(
                state,
                policy=options.pop("policy", FAST),
                environ=environ,
                allow_http_loopback=options.pop("allow_http_loopback", True),
                **options,
            )
            async with executor:
                summary = await executor.run(actions)
            rows = {row["action_id"]: row for row in state.rows()}
        return summary, rows

    return asyncio.run(go())


# --- webhooks ----------------------------------------------------------------------------------


def test_webhook_posts_the_payload_with_an_idempotency_key(server, environ, tmp_path):
    action = _hook(server)
    summary, rows = _perform(tmp_path / "s.sqlite", [action], environ)
    assert (summary.completed, summary.failed) == (1, 0)
    (request,) = server.requests
    assert request["method"] == "POST" and request["path"] == "/hook"
    assert request["json"] == action.payload
    assert request["headers"]["Idempotency-Key"] == action.action_id
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert "Authorization" not in request["headers"]
    row = rows[action.action_id]
    assert (row["status"], row["attempts"]) == ("completed", 1) and row["completed_at"]


def test_server_errors_are_retried_with_exponential_backoff(server, environ, tmp_path):
    server.fail["/hook"] = [503, 500, 502]
    action = _hook(server)
    summary, rows = _perform(tmp_path / "s.sqlite", [action], environ)
    assert summary.completed == 1
    assert rows[action.action_id]["attempts"] == 4
    times = [r["time"] for r in server.requests]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # base 0.05 s doubling (no jitter in FAST): >= 0.05, 0.1, 0.2 s
    for gap, floor in zip(gaps, (0.05, 0.1, 0.2), strict=True):
        assert gap >= floor * 0.95
    assert gaps[2] > gaps[0]
    assert {r["headers"]["Idempotency-Key"] for r in server.requests} == {action.action_id}


def test_backoff_delays_grow_are_capped_and_jittered():
    import random

    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        delays = {policy.delay(attempt, rng) for _ in range(50)}
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert len(delays) > 40  # jittered, not one value


def test_timeouts_are_retried(server, environ, tmp_path):
    server.stall["/hook"] = [1.0]
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, timeout=0.3, jitter=0.0)
    action = _hook(server)
    summary, rows = _perform(tmp_path / "s.sqlite", [action], environ, policy=policy)
    assert summary.completed == 1 and rows[action.action_id]["attempts"] == 2


def test_giving_up_after_max_attempts_and_retrying_only_when_asked(server, environ, tmp_path):
    server.fail["/hook"] = [503] * 10
    action = _hook(server)
    state = tmp_path / "s.sqlite"
    summary, rows = _perform(state, [action], environ)
    assert summary.failed == 1 and len(server.requests) == FAST.max_attempts
    row = rows[action.action_id]
    assert row["status"] == "failed" and row["attempts"] == 4 and row["completed_at"] is None
    assert "gave up after 4 attempts" in row["detail"] and "HTTP 503" in row["detail"]
    summary, _ = _perform(state, [action], environ)  # a failed action is not retried by default
    assert (summary.failed_before, summary.skipped) == (1, 0) and len(server.requests) == 4
    assert not summary.all_done  # still not done: a run that meets it does not succeed
    server.fail["/hook"] = []
    summary, rows = _perform(state, [action], environ, retry_failed=True)
    assert summary.completed == 1 and len(server.requests) == 5
    assert rows[action.action_id]["status"] == "completed"


def test_client_errors_are_not_retried(server, environ, tmp_path):
    server.fail["/hook"] = [400]
    summary, rows = _perform(tmp_path / "s.sqlite", [_hook(server)], environ)
    assert summary.failed == 1 and len(server.requests) == 1
    assert "HTTP 400" in next(iter(rows.values()))["detail"]


def test_connection_errors_are_retried_then_fail(environ, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    action = _action(
        "external",
        {"url": f"http://127.0.0.1:{port}/hook", "reducer_key": "count"},
        payload={"data": {}},
    )
    summary, rows = _perform(tmp_path / "s.sqlite", [action], environ)
    assert summary.failed == 1
    row = rows[action.action_id]
    assert row["attempts"] == FAST.max_attempts and "Connect" in row["detail"]


def test_plain_http_webhooks_need_the_loopback_option(server, environ, tmp_path):
    summary, rows = _perform(
        tmp_path / "s.sqlite", [_hook(server)], environ, allow_http_loopback=False
    )
    assert summary.failed == 1 and server.requests == []
    assert "allow-http-loopback" in next(iter(rows.values()))["detail"]


def test_basic_auth_credentials_come_from_the_environment(server, environ, tmp_path):
    action = _hook(server, auth=True)
    summary, _ = _perform(tmp_path / "s.sqlite", [action], environ)
    assert summary.completed == 1
    header = server.requests[0]["headers"]["Authorization"]
    assert base64.b64decode(header.split()[1]).decode() == f"tally:{HOOK_PASSWORD}"
    missing = {k: v for k, v in environ.items() if k != "HOOK_PASSWORD"}
    summary, rows = _perform(tmp_path / "t.sqlite", [action], missing)
    assert summary.failed == 1 and len(server.requests) == 1
    assert "HOOK_PASSWORD" in next(iter(rows.values()))["detail"]


# --- exactly once ------------------------------------------------------------------------------


def test_a_rerun_never_performs_an_action_twice(server, environ, tmp_path):
    actions = [_hook(server, target=t) for t in (1, 2, 3)]
    actions.append(actions[0])  # the same record twice in one input
    state = tmp_path / "s.sqlite"
    summary, _ = _perform(state, actions, environ)
    assert (summary.completed, summary.skipped) == (3, 1)
    assert len(server.requests) == 3
    summary, rows = _perform(state, actions, environ)  # everything again: nothing is sent
    assert (summary.completed, summary.skipped) == (0, 4)
    assert len(server.requests) == 3
    assert {r["status"] for r in rows.values()} == {"completed"}


def test_an_interrupted_action_is_finished_on_restart_with_the_same_key(server, environ, tmp_path):
    action = _hook(server)
    state = tmp_path / "s.sqlite"
    with ExecutorState.open(state) as s:  # a crash after the claim, before any outcome
        assert s.claim(action)
        s.attempt(action.action_id)
    summary, rows = _perform(state, [action], environ)
    assert summary.completed == 1
    assert server.requests[0]["headers"]["Idempotency-Key"] == action.action_id
    assert rows[action.action_id]["attempts"] == 2


def test_one_executor_per_state_file(tmp_path):
    with (
        ExecutorState.open(tmp_path / "s.sqlite"),
        pytest.raises(StateLockedError, match="one executor per state file"),
        ExecutorState.open(tmp_path / "s.sqlite"),
    ):
        pass


def test_actions_for_one_target_run_in_order(server, environ, tmp_path):
    server.stall["/api/subject_sets/3/links/subjects"] = [0.3]
    add = _action("add_subject_to_set", {"subject_set_id": 3}, index=0)
    retire = _action("retire_subject", {"reason": "nothing_here"}, index=1)
    others = [_hook(server, target=t) for t in (7, 8)]
    summary, _ = _perform(tmp_path / "s.sqlite", [add, retire, *others], environ, concurrency=8)
    assert summary.completed == 4
    order = [p for p in server.paths() if p.startswith("/api/")]
    assert order == ["/api/subject_sets/3/links/subjects", "/api/workflows/1/retired_subjects"]
    hooks = [r["time"] for r in server.requests if r["path"] == "/hook"]
    sets = [r["time"] for r in server.requests if r["path"].startswith("/api/subject_sets")]
    assert max(hooks) < sets[0] + 0.3  # other targets did not wait for the slow one


# --- Panoptes ----------------------------------------------------------------------------------


def test_panoptes_retire_add_to_set_and_collection(server, environ, tmp_path):
    retire = _action("retire_subject", {"reason": "nothing_here"})
    to_set = _action("add_subject_to_set", {"subject_set_id": 3}, index=1)
    to_set_again = _action("add_subject_to_set", {"subject_set_id": 3}, rule="r2")
    collect = _action("add_subject_to_collection", {"collection_id": 9}, index=2)
    collect_again = _action("add_subject_to_collection", {"collection_id": 9}, rule="r3")
    summary, _ = _perform(
        tmp_path / "s.sqlite", [retire, to_set, to_set_again, collect, collect_again], environ
    )
    assert summary.completed == 5 and summary.failed == 0  # "already there" counts as done
    assert server.retired == [("1", 55, "nothing_here")]
    assert server.set_members == {"3": [55]} and server.collection_members == {"9": [55]}
    post = next(r for r in server.requests if r["path"] == "/api/workflows/1/retired_subjects")
    assert post["json"] == {"admin": True, "subject_id": 55, "retirement_reason": "nothing_here"}
    assert post["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert post["headers"]["Accept"] == "application/vnd.api+json; version=1"
    assert post["headers"]["Idempotency-Key"] == retire.action_id


def test_panoptes_errors_are_retried(server, environ, tmp_path):
    server.fail["/api/workflows/1/retired_subjects"] = [502, 503]
    summary, rows = _perform(
        tmp_path / "s.sqlite", [_action("retire_subject", {"reason": "other"})], environ
    )
    assert summary.completed == 1 and next(iter(rows.values()))["attempts"] == 3


def test_promote_user_only_to_a_higher_level(server, environ, tmp_path):
    up = _action("promote_user", {"workflow_id": 20}, kind="user", target=77)
    summary, rows = _perform(tmp_path / "s.sqlite", [up], environ)
    assert summary.completed == 1
    prefs = next(r for r in server.requests if r["path"] == "/api/project_preferences")
    assert prefs["query"] == {"user_id": "77", "project_id": "4000"}  # project from the workflow
    assert server.put_preferences == [
        {
            "json": {"project_preferences": {"settings": {"workflow_id": "20"}}},
            "if_match": 'W/"etag-700"',
        }
    ]
    down = _action("promote_user", {"workflow_id": 5, "project_id": 4000}, kind="user", target=77)
    summary, rows = _perform(tmp_path / "t.sqlite", [down], environ)
    assert summary.completed == 1 and len(server.put_preferences) == 1
    assert "not promoted" in rows[down.action_id]["detail"]


def test_panoptes_without_credentials_fails_without_a_request(server, environ, tmp_path):
    no_token = {k: v for k, v in environ.items() if k != "TALLY_PANOPTES_TOKEN"}
    summary, rows = _perform(
        tmp_path / "s.sqlite", [_action("retire_subject", {"reason": "other"})], no_token
    )
    assert summary.failed == 1 and server.requests == []
    assert "TALLY_PANOPTES_TOKEN" in next(iter(rows.values()))["detail"]


def test_panoptes_url_must_be_https_or_loopback(environ, tmp_path):
    bad = {**environ, "TALLY_PANOPTES_URL": "http://panoptes.example.org/api"}
    with pytest.raises(ValueError, match="https"):
        _perform(tmp_path / "s.sqlite", [], bad)


# --- secrets -----------------------------------------------------------------------------------


def test_secrets_never_reach_logs_state_or_records(server, environ, tmp_path, caplog):
    server.echo_secrets = True  # the server puts the Authorization header in its error bodies
    server.fail["/api/workflows/1/retired_subjects"] = [500] * 10
    server.fail["/hook"] = [500] * 10
    actions = [_action("retire_subject", {"reason": "other"}), _hook(server, auth=True, target=8)]
    caplog.set_level(logging.DEBUG)
    summary, rows = _perform(tmp_path / "s.sqlite", actions, environ)
    assert summary.failed == 2
    # the secrets were sent (so the test would notice them if they leaked) ...
    sent = " ".join(str(r["headers"]) for r in server.requests)
    assert TOKEN in sent and base64.b64encode(f"tally:{HOOK_PASSWORD}".encode()).decode() in sent
    # ... and appear nowhere the executor writes
    basic = base64.b64encode(f"tally:{HOOK_PASSWORD}".encode()).decode()
    logs = caplog.text + " ".join(str(r.args) for r in caplog.records)
    stored = (tmp_path / "s.sqlite").read_bytes().decode("latin-1")
    for secret in (TOKEN, HOOK_PASSWORD, basic):
        assert secret not in logs
        assert secret not in str(rows)
        assert secret not in stored
        assert secret not in str(summary.outcomes)
        assert all(secret not in str(a.to_dict()) for a in actions)
    assert "***" in str(rows)  # the echoed credentials were scrubbed, not dropped silently


def test_repr_of_the_client_hides_the_token(server, environ, tmp_path):
    async def go():
        with ExecutorState.open(tmp_path / "s.sqlite") as state:
            async with Executor(state, environ=environ, policy=FAST) as executor:
                return repr(executor._panoptes), executor._panoptes.__dict__

    text, attributes = asyncio.run(go())
    assert TOKEN not in text and "TALLY_PANOPTES_TOKEN" in text
    assert all(v != TOKEN for k, v in attributes.items() if not k.endswith("__token"))


# --- end to end: rules -> actions CSV -> tally effects run ---------------------------------------


def test_cli_performs_an_actions_csv_once(server, environ, tmp_path, monkeypatch, capsys):
    book = RuleBook.from_document(
        {
            "subject_rules": [
                {
                    "id": "retire-nothing-here",
                    "condition": ["gte", ["lookup", "count.classifications", 0], ["const", 3]],
                    "effects": [
                        {"action": "retire_subject", "config": {"reason": "classification_count"}},
                        {"action": "external", "config": {"url": f"{server.url}/hook", "reducer_key": "count"}},
                    ],
                }
            ]
        },
        allow_http_loopback=True,
    )  # fmt: skip
    records = []
    for subject in (101, 102):
        bindings = subject_bindings({"count": {"classifications": 3}}, subject_id=subject)
        actions, errors = book.subject_actions(
            bindings, workflow_id=1, subject_id=subject, time="t"
        )
        assert errors == []
        records.extend(actions)
    path = tmp_path / "actions.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ACTION_COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow(record.to_row())
        handle.write("not,an,action\n")
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    argv = [
        "effects",
        "run",
        "--actions",
        str(path),
        "--allow-http-loopback",
        "--base-delay",
        "0.01",
    ]
    assert tally_main(argv) == 1  # the malformed row is reported
    assert "4 completed, 0 failed" in capsys.readouterr().err
    assert sorted(s for _, s, _ in server.retired) == [101, 102]
    assert len(server.paths()) == 4
    assert tally_main(argv) == 1
    assert "0 completed, 0 failed, 4 already done" in capsys.readouterr().err
    assert len(server.paths()) == 4  # nothing performed twice
    assert tally_main(["effects", "status", "--state", f"{path}.effects.sqlite"]) == 0
    assert "completed: 4" in capsys.readouterr().out


def _write_actions(path: Path, records: list[ActionRecord], extra: str = "") -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ACTION_COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow(record.to_row())
        handle.write(extra)


def test_cli_rerun_fails_while_earlier_failures_are_not_retried(
    server, environ, tmp_path, monkeypatch, capsys
):
    """Review finding: after a partial failure a plain re-run said '0 completed, 0 failed' and
    exited 0, although actions were still not done."""
    records = [_action("retire_subject", {"reason": "other"}, target=t) for t in (101, 102, 103)]
    path = tmp_path / "actions.csv"
    _write_actions(path, records)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    server.fail["/api/workflows/1/retired_subjects"] = [500]  # the first retirement fails
    argv = ["effects", "run", "--actions", str(path), "--max-attempts", "1", "--concurrency", "1"]
    assert tally_main(argv) == 1
    assert "2 completed, 1 failed, 0 already done, 0 failed in an earlier run" in (
        capsys.readouterr().err
    )
    assert tally_main(argv) == 1  # nothing performed, but one action is still failed
    err = capsys.readouterr().err
    assert "0 completed, 0 failed, 2 already done, 1 failed in an earlier run" in err
    assert "--retry-failed" in err
    assert len(server.retired) == 2
    assert tally_main([*argv, "--retry-failed"]) == 0
    assert "1 completed, 0 failed, 2 already done, 0 failed in an earlier run" in (
        capsys.readouterr().err
    )
    assert sorted(s for _, s, _ in server.retired) == [101, 102, 103]
    assert tally_main(argv) == 0  # everything done: a re-run succeeds
    assert "0 completed, 0 failed, 3 already done" in capsys.readouterr().err


def test_cli_reports_malformed_rows_and_performs_the_others(
    server, environ, tmp_path, monkeypatch, capsys, caplog
):
    """Review findings: an add_subject_to_set row with config {} crashed the executor with a
    KeyError (the valid row after it stayed in_progress, never sent), and a row without
    subject_id was posted as "subject_id": null and recorded completed."""
    path = tmp_path / "actions.csv"
    path.write_text(
        ",".join(ACTION_COLUMNS) + "\n"
        "aaaa0000000000000000000000000001,77,r,subject,5,,add_subject_to_set,{},t,pending,\n"
        'aaaa0000000000000000000000000002,77,r,subject,6,,retire_subject,"{""reason"":""other""}"'
        ",t,pending,\n"
        'aaaa0000000000000000000000000003,77,r,subject,,,retire_subject,"{""reason"":""other""}"'
        ",t,pending,\n"
    )
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    argv = ["effects", "run", "--actions", str(path), "--concurrency", "1"]
    with caplog.at_level(logging.ERROR, logger="tally.effects"):
        assert tally_main(argv) == 1
    logged = [r.getMessage() for r in caplog.records]  # the CLI logs to stderr
    assert logged[0].startswith(
        f"{path}, line 2: malformed row, not performed: action aaaa0000000000000000000000000001 "
    )
    assert logged[0].endswith("add_subject_to_set needs subject_set_id")
    assert logged[1].startswith(f"{path}, line 4: malformed row") and "no subject_id" in logged[1]
    err = capsys.readouterr().err
    assert "1 completed, 0 failed" in err and "2 malformed record(s) not performed" in err
    assert server.retired == [("77", 6, "other")]  # the valid row only; nothing with null
    assert server.paths() == ["/api/workflows/77/retired_subjects"]
    assert tally_main(["effects", "status", "--state", f"{path}.effects.sqlite"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "completed: 1"  # none left in_progress


def test_a_malformed_record_built_in_code_is_reported_not_sent(server, environ, tmp_path):
    bad = dataclasses.replace(_action("add_subject_to_set", {"subject_set_id": 4}), config={})
    good = _action("retire_subject", {"reason": "other"}, target=56)
    summary, rows = _perform(tmp_path / "s.sqlite", [bad, good], environ)
    assert (summary.malformed, summary.completed, summary.all_done) == (1, 1, False)
    (outcome,) = [o for o in summary.outcomes if o.status == "malformed"]
    assert "needs subject_set_id" in outcome.detail
    assert bad.action_id not in rows  # not claimed: nothing left in progress
    assert server.retired == [("1", 56, "other")]


def test_http_helper_reports_attempts():
    error = EffectFailed("x", attempts=3, status=503)
    assert (error.attempts, error.status) == (3, 503)
