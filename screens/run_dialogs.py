"""Small modal dialogs of a run: parameters, confirmations, checklists, resolutions.

They only collect answers and dismiss with them; the run screen hands the answer to
the app, which passes it to the executor thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from widgets.safe_text import safe_content, safe_text


@dataclass(frozen=True)
class ParamField:
    name: str
    kind: str
    default: str
    help: str
    choices: tuple[str, ...] = ()


class ParamsDialog(ModalScreen[dict[str, str] | None]):
    """Fill in a runbook's parameters; ``check`` validates them before dismissing."""

    DEFAULT_CSS = """
    ParamsDialog { align: center middle; }
    ParamsDialog > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1; }
    ParamsDialog .field-help { color: $text-muted; }
    ParamsDialog #params-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Start", show=True)]

    def __init__(self, title: str, subtitle: str, fields: list[ParamField], check: Callable[[dict[str, str]], str | None]) -> None:
        super().__init__()
        self._title = title
        self._subtitle = subtitle
        self._fields = fields
        self._check = check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe_content(self._title), id="params-title")
            yield Label(safe_content(self._subtitle), classes="field-help")
            with VerticalScroll():
                for field in self._fields:
                    hint = f"{field.name} ({field.kind})"
                    if field.choices:
                        hint += ": " + " | ".join(field.choices)
                    yield Label(safe_content(hint))
                    yield Input(value=field.default, placeholder=field.help or field.name, id=f"param-{field.name}")
                    if field.help:
                        yield Label(safe_content(field.help), classes="field-help")
            yield Static("", id="params-error")
            yield Label("Enter on the last field or ctrl+s starts · Esc cancels", classes="field-help")

    def on_mount(self) -> None:
        inputs = list(self.query(Input))
        if inputs:
            inputs[0].focus()

    def _values(self) -> dict[str, str]:
        return {field.name: self.query_one(f"#param-{field.name}", Input).value for field in self._fields}

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        if event.input is inputs[-1]:
            self.action_submit()
        else:
            inputs[inputs.index(event.input) + 1].focus()

    def action_submit(self) -> None:
        values = {k: v for k, v in self._values().items() if v != ""}
        problem = self._check(values)
        if problem:
            self.query_one("#params-error", Static).update(safe_content(problem))
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[dict | None]):
    """Yes/no; in a protected environment the operator must type its name."""

    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical { width: 70; max-width: 100%; height: auto; border: thick $warning;
        background: $surface; padding: 0 1; }
    ConfirmDialog .hint { color: $text-muted; }
    ConfirmDialog #confirm-error { color: $error; }
    """
    BINDINGS = [
        Binding("y", "yes", "Yes"),
        Binding("n", "no", "No"),
        Binding("escape", "cancel", "Later"),
    ]

    def __init__(self, prompt: str, *, protect: str | None = None) -> None:
        super().__init__()
        self._prompt = prompt
        self._protect = protect

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(safe_content(self._prompt), id="confirm-prompt")
            if self._protect:
                yield Label(
                    safe_content(f"{self._protect} is protected: type its name and press Enter to confirm"),
                    classes="hint",
                )
                yield Input(placeholder=self._protect, id="confirm-typed")
                yield Static("", id="confirm-error")
            else:
                yield Label("y yes · n no · Esc decide later", classes="hint")

    def on_mount(self) -> None:
        if self._protect:
            self.query_one("#confirm-typed", Input).focus()

    @on(Input.Submitted, "#confirm-typed")
    def _typed(self, event: Input.Submitted) -> None:
        if event.value != self._protect:
            self.query_one("#confirm-error", Static).update(
                safe_content(f"that is not {self._protect!r}; type the environment name exactly, or Esc")
            )
            return
        self.dismiss({"yes": True, "typed": event.value})

    def action_yes(self) -> None:
        if self._protect:
            return  # typing the name is the only way to say yes here
        self.dismiss({"yes": True})

    def action_no(self) -> None:
        if self._protect and isinstance(self.focused, Input):
            return
        self.dismiss({"yes": False})

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChecklistDialog(ModalScreen[dict | None]):
    """A manual step: instructions and a checklist to tick; Enter says done."""

    DEFAULT_CSS = """
    ChecklistDialog { align: center middle; }
    ChecklistDialog > Vertical { width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1; }
    ChecklistDialog .hint { color: $text-muted; }
    ChecklistDialog SelectionList { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding("enter", "done", "Done", priority=True), Binding("escape", "cancel", "Later")]

    def __init__(self, instructions: str, checklist: list[str]) -> None:
        super().__init__()
        self._instructions = instructions
        self._checklist = checklist

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(safe_content(self._instructions), id="manual-instructions")
            yield SelectionList[int](*[(safe_text(item), index) for index, item in enumerate(self._checklist)])
            yield Label("space ticks · Enter done (all ticked) · Esc later", classes="hint")
            yield Static("", id="manual-error")

    def action_done(self) -> None:
        selection = self.query_one(SelectionList)
        ticked = sorted(selection.selected)
        if len(ticked) < len(self._checklist):
            self.query_one("#manual-error", Static).update(
                Text(f"{len(self._checklist) - len(ticked)} item(s) not ticked yet", style="bold")
            )
            return
        self.dismiss({"checked": [self._checklist[i] for i in ticked]})

    def action_cancel(self) -> None:
        self.dismiss(None)


class ResolveDialog(ModalScreen[str | None]):
    """An interrupted step: redo, mark done, skip or abort, the recommended one first."""

    DEFAULT_CSS = """
    ResolveDialog { align: center middle; }
    ResolveDialog > Vertical { width: 76; max-width: 100%; height: auto; border: thick $warning;
        background: $surface; padding: 0 1; }
    ResolveDialog OptionList { height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Later")]

    CHOICES = {
        "redo": "redo — run the step again",
        "done": "mark done — its effect is already there",
        "skip": "skip — go on without it",
        "abort": "abort the run",
    }

    def __init__(self, message: str, recommended: str) -> None:
        super().__init__()
        self._message = message
        self._recommended = recommended

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(safe_content(self._message))
            options = []
            for choice, words in self.CHOICES.items():
                label = words + ("   (recommended)" if choice == self._recommended else "")
                options.append(Option(safe_text(label), id=choice))
            yield OptionList(*options)

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        option_list.focus()
        if self._recommended in self.CHOICES:
            option_list.highlighted = list(self.CHOICES).index(self._recommended)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextDialog(ModalScreen[str | None]):
    """One line of text: a note, or the reason for a skip."""

    DEFAULT_CSS = """
    TextDialog { align: center middle; }
    TextDialog > Vertical { width: 70; max-width: 100%; height: auto; border: thick $accent;
        background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: str, *, required: bool = True) -> None:
        super().__init__()
        self._prompt = prompt
        self._required = required

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe_content(self._prompt))
            yield Input(id="text-value")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if self._required and not event.value.strip():
            return
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
