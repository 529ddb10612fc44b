"""What a resumed run recommends for an interrupted canary or blue-green step, judged from
the backend's release state (pure: `ReleaseState` values as the adapters return them;
the adapters' own release_state is tested against the engine and the emulator)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from adapters.base import ReleaseState
from console.model import WorkloadKey
from console.runbook.executor import _recommend_release
from console.runbook.run_view import RunView

KEY = WorkloadKey("local", "shop", "web")
OLD, NEW = "shop/web:1", "shop/web:2"
VIEW = RunView(run_id="r", runbook="canary", title="Canary", environment="local", workload=KEY, from_image=OLD, to_image=NEW)


def step(verb: str, **fields) -> SimpleNamespace:
    return SimpleNamespace(kind="action", verb=verb, image=fields.get("image"), weight=fields.get("weight"))


NONE = ReleaseState(KEY, "", stable_image=OLD, stable_replicas=3)
CANARY_1 = ReleaseState(KEY, "canary", stable_image=OLD, new_image=NEW, stable_replicas=3, new_replicas=1)
PROMOTED = ReleaseState(KEY, "", stable_image=NEW, stable_replicas=3)
IDLE = ReleaseState(KEY, "blue-green", stable_image=OLD, new_image=NEW, idle_scaled_up=True, phase="deployed")
SWITCHED = ReleaseState(KEY, "blue-green", stable_image=NEW, new_image=OLD, idle_scaled_up=False, phase="switched")


@pytest.mark.parametrize(
    ("verb", "fields", "release", "expected"),
    [
        ("canary.start", {"image": NEW}, NONE, "redo"),  # never reached the engine
        ("canary.start", {"image": NEW}, CANARY_1, "done"),  # it landed: starting again would be refused
        ("canary.start", {"image": "shop/web:9"}, CANARY_1, "abort"),  # someone else's canary
        ("canary.set_weight", {"weight": 25}, CANARY_1, "done"),  # 1 of 4 is the nearest to 25 %
        ("canary.set_weight", {"weight": 50}, CANARY_1, "redo"),  # 50 % wants 3 beside 3
        ("canary.set_weight", {"weight": 50}, NONE, "abort"),  # the canary is gone: not ours to recreate
        ("canary.promote", {}, CANARY_1, "redo"),
        ("canary.promote", {}, PROMOTED, "done"),
        ("canary.promote", {}, NONE, "abort"),  # canary gone and stable old: removed by someone
        ("canary.abort", {}, CANARY_1, "redo"),
        ("canary.abort", {}, NONE, "done"),
        ("bluegreen.deploy", {"image": NEW}, NONE, "redo"),
        ("bluegreen.deploy", {"image": NEW}, IDLE, "done"),
        ("bluegreen.switch", {}, IDLE, "redo"),
        ("bluegreen.switch", {}, SWITCHED, "done"),
        ("bluegreen.switch_back", {}, SWITCHED, "redo"),
        ("bluegreen.switch_back", {}, IDLE, "done"),  # live is the old image again
        ("bluegreen.scale_down", {}, IDLE, "redo"),
        ("bluegreen.scale_down", {}, SWITCHED, "done"),
        ("bluegreen.abort", {}, IDLE, "redo"),
        ("bluegreen.abort", {}, NONE, "done"),
        ("canary.start", {"image": NEW}, None, "abort"),  # the backend could not be asked
    ],
)
def test_an_interrupted_release_step_is_recommended_from_what_the_backend_shows(verb, fields, release, expected):
    assert _recommend_release(step(verb, **fields), release, VIEW) == expected
