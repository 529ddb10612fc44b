"""Argo Rollouts' ``Rollout`` read in the console's words: strategy, phase, step, weight.

One reading shared by the watch (the row and detail pane), ``observe()`` (health
gates) and ``release_state()`` (resume decisions), so they never disagree about where
a Rollout stands. Argo's controller writes the status; this only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP_VERSION = "argoproj.io/v1alpha1"
PLURAL = "rollouts"
KIND = "Rollout"
REVISION = "rollout.argoproj.io/revision"

HEALTHY = "Healthy"
PAUSED = "Paused"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    strategy: str
    """"canary", "blue-green" or "" (no strategy Argo names)."""
    phase: str
    """Argo's own word: Healthy, Progressing, Paused, Degraded — or "" before its first status."""
    step: int | None
    steps: int
    weight: int
    """Canary: the share of traffic the current step gives the new version, in percent."""
    aborted: bool
    message: str
    observed: bool
    """The controller has seen the latest spec (``observedGeneration``)."""

    @property
    def summary(self) -> str:
        """"Paused, step 1/4" — phase, step and abort, as ``kubectl argo rollouts get`` puts them."""
        parts = [self.phase]
        if self.steps and self.step is not None:
            parts.append(f"step {min(self.step, self.steps)}/{self.steps}")
        if self.aborted:
            parts.append("aborted")
        return ", ".join(p for p in parts if p)

    @property
    def line(self) -> str:
        """One line for the detail pane: "Argo Rollout canary · Paused, step 1/4 · weight 20 %"."""
        parts = [f"Argo Rollout {self.strategy}".rstrip(), self.summary or "no status yet"]
        if self.strategy == "canary":
            parts.append(f"weight {self.weight} %")
        if self.message:
            parts.append(self.message)
        return " · ".join(parts)

    @property
    def settled(self) -> bool:
        """Argo calls it Healthy and has seen the latest spec: no release under way."""
        return self.observed and self.phase == HEALTHY


def rollout_status(rollout: dict) -> RolloutStatus:
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    metadata = rollout.get("metadata") or {}
    strategy = spec.get("strategy") or {}
    kind = "canary" if "canary" in strategy else "blue-green" if "blueGreen" in strategy else ""
    steps = [s for s in ((strategy.get("canary") or {}).get("steps") or []) if isinstance(s, dict)]
    index = _int(status.get("currentStepIndex"))
    aborted = bool(status.get("abort"))
    weight = 0
    if kind == "canary":
        current = (((status.get("canary") or {}).get("weights") or {}).get("canary") or {}).get("weight")
        weight = _int(current) if current is not None else set_weight(steps, index, aborted)
        weight = weight or 0
    # Argo writes observedGeneration as a string; an old controller wrote a hash.
    observed_text = str(status.get("observedGeneration") or "")
    generation = _int(metadata.get("generation")) or 0
    observed = not observed_text or not observed_text.isdigit() or int(observed_text) >= generation
    return RolloutStatus(
        strategy=kind,
        phase=str(status.get("phase") or ""),
        step=index,
        steps=len(steps),
        weight=weight,
        aborted=aborted,
        message=str(status.get("message") or ""),
        observed=observed,
    )


def set_weight(steps: list, index: int | None, aborted: bool) -> int:
    """The weight of the current step, as Argo's ``GetCurrentSetWeight`` reads it."""
    if aborted:
        return 0
    index = index or 0
    if not steps or index >= len(steps):
        return 100
    for step in reversed(steps[: index + 1]):
        if isinstance(step, dict) and step.get("setWeight") is not None:
            return _int(step["setWeight"]) or 0
    return 0


def next_weight(rollout: dict) -> int | None:
    """The weight the next ``setWeight`` step after the current one gives, None past the last."""
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    steps = [s for s in ((strategy.get("canary") or {}).get("steps") or []) if isinstance(s, dict)]
    index = _int((rollout.get("status") or {}).get("currentStepIndex")) or 0
    for step in steps[index + 1 :]:
        if step.get("setWeight") is not None:
            return _int(step["setWeight"])
    return None


def _int(value: object) -> int | None:
    # Anyone who may edit the Rollout may write its status fields: "²".isdigit() is
    # True and int() refuses it, so only ASCII digits count.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value) if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() else None
