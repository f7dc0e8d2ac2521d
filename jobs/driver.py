"""One job body, two drivers.

An operator that takes a while subclasses :class:`StepOperator` and writes its work once,
as a generator ``steps(context)`` that yields :class:`Progress` between small steps
(one rendered frame, one drain of the backend's messages) and raises
:class:`OperatorError` to fail with a message and a hint.

- ``execute`` (background mode, the bpy console, scripts) runs the generator to the end
  and prints progress on stdout.
- ``invoke`` in the UI runs it from a modal timer, so Blender stays responsive: progress
  shows in the panel and the status bar, Esc cancels, and ``poll`` refuses a second job
  while one runs.

Cancelling closes the generator, so its ``finally`` blocks (restoring the scene, stopping
the backend) run on every way out.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field

import bpy

from ..errors import OperatorError


@dataclass
class Progress:
    stage: str
    done: int = 0
    total: int = 0
    text: str = ""
    # Numbers as the backend sent them (loss, psnr, step, ...): the panel draws them from the job
    # state, never by parsing text.
    metrics: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def metrics_text(self) -> str:
        return " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in self.metrics.items())

    def line(self) -> str:
        count = f" {self.done}/{self.total}" if self.total else ""
        words = " ".join(w for w in (self.text, self.metrics_text()) if w)
        return f"[ps4pro] {self.stage}{count}{': ' + words if words else ''}"


class Cancelled(Exception):
    pass


def _job_state(context):
    return getattr(context.window_manager, "ps4pro_job", None)


def job_running(context) -> bool:
    state = _job_state(context)
    return bool(state and state.running)


def _redraw(context):
    wm = context.window_manager
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "STATUSBAR", "PREFERENCES"}:
                area.tag_redraw()


def set_metrics(state, metrics: dict) -> None:
    """The job state's metrics become these numbers (non-numbers and booleans are left out)."""
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if [m.name for m in state.metrics] != list(numbers):
        state.metrics.clear()
        for name in numbers:
            state.metrics.add().name = name
    for item in state.metrics:
        item.value = numbers[item.name]


class StepOperator:
    """Mixin for ``bpy.types.Operator`` subclasses; see the module docstring."""

    bl_options = {"REGISTER"}
    # Seconds between timer ticks in the UI; each tick runs one step of the generator.
    tick_seconds = 0.05

    # -- to override ------------------------------------------------------------------
    def prepare(self, context) -> None:
        """Fill options and check input before anything runs; raise OperatorError."""

    def steps(self, context):
        raise NotImplementedError
        yield  # pragma: no cover

    # -- shared -------------------------------------------------------------------------
    blocking = True  # False while driven by the modal timer; job bodies wait less then

    @classmethod
    def poll(cls, context):
        if job_running(context):
            cls.poll_message_set("Another PS4PRO job is running (Esc cancels it)")
            return False
        return True

    def _begin(self, context):
        state = _job_state(context)
        if state is not None:
            state.running = True
            state.operator = self.bl_idname
            state.stage = "Starting"
            state.progress = 0.0
            state.text = ""
            state.metrics.clear()
            state.error_code = ""
        self._gen = self.steps(context)
        self._last_print = 0.0

    def _show(self, context, progress: Progress):
        state = _job_state(context)
        if state is not None:
            state.stage = progress.stage
            state.progress = progress.fraction
            state.text = progress.text
            set_metrics(state, progress.metrics)
        if self.blocking:
            now = time.monotonic()
            if now - self._last_print > 0.5 or progress.done == progress.total:
                print(progress.line(), flush=True)
                self._last_print = now
        else:
            _redraw(context)

    def _end(self, context, report: str | None = None, level: str = "INFO"):
        state = _job_state(context)
        if state is not None:
            state.running = False
            state.stage = ""
            state.progress = 0.0
            state.text = ""
            state.metrics.clear()
            if report:
                state.last_report = report
        if report:
            self.report({level}, report)
        if not self.blocking:
            _redraw(context)

    def _fail(self, context, exc: BaseException):
        state = _job_state(context)
        if state is not None:
            state.error_code = exc.code if isinstance(exc, OperatorError) else "internal"
        if isinstance(exc, OperatorError):
            text = exc.report_text()
        else:
            traceback.print_exc()
            text = f"PS4PRO failed unexpectedly: {exc} (see the system console)"
        self._end(context, text, "ERROR")
        return {"CANCELLED"}

    def finished_report(self) -> str:
        """Text reported when the job finished; operators override to say what they made."""
        return "Done"

    # -- blocking driver ------------------------------------------------------------------
    def execute(self, context):
        self.blocking = True
        try:
            self.prepare(context)
        except OperatorError as exc:
            return self._fail(context, exc)
        self._begin(context)
        try:
            for progress in self._gen:
                if progress is not None:
                    self._show(context, progress)
        except BaseException as exc:  # KeyboardInterrupt in a console counts as cancel too
            self._gen.close()
            if isinstance(exc, (KeyboardInterrupt, Cancelled)):
                self._end(context, "Cancelled", "WARNING")
                return {"CANCELLED"}
            return self._fail(context, exc)
        self._end(context, self.finished_report())
        return {"FINISHED"}

    # -- UI driver ----------------------------------------------------------------------
    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        self.blocking = False
        try:
            self.prepare(context)
        except OperatorError as exc:
            return self._fail(context, exc)
        self._begin(context)
        wm = context.window_manager
        self._timer = wm.event_timer_add(self.tick_seconds, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            return self._stop(context, cancelled=True)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            progress = next(self._gen)
        except StopIteration:
            return self._stop(context)
        except BaseException as exc:
            self._remove_timer(context)
            self._gen.close()
            return self._fail(context, exc)
        if progress is not None:
            self._show(context, progress)
        return {"RUNNING_MODAL"}

    def _remove_timer(self, context):
        if getattr(self, "_timer", None) is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None

    def _stop(self, context, cancelled=False):
        self._remove_timer(context)
        if cancelled:
            self._gen.close()  # runs the body's finally blocks: backend stopped, scene restored
            self._end(context, "Cancelled", "WARNING")
            return {"CANCELLED"}
        self._end(context, self.finished_report())
        return {"FINISHED"}

    def cancel(self, context):
        """Blender calls this when the window closes mid-job."""
        self._remove_timer(context)
        if getattr(self, "_gen", None) is not None:
            self._gen.close()
        state = _job_state(context)
        if state is not None:
            state.running = False


def print_err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
