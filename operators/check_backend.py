"""``ps4pro.check_backend``: which Python the backend runs, its torch, and its device."""

import bpy

from ..errors import OperatorError
from ..jobs.backend import BackendJobOperator
from ..ps4pro_blender import protocol


def summary(info: dict) -> str:
    torch = info.get("torch") or "no torch"
    return f"Python {info.get('python_version')} ({info.get('python')}), torch {torch}, device {info.get('device')}"


class PS4PRO_OT_check_backend(BackendJobOperator, bpy.types.Operator):
    """Check that the backend Python runs and has torch; report its version and device"""

    bl_idname = "ps4pro.check_backend"
    bl_label = "Check Backend"

    def job_command(self, context, job_dir):
        return "check", []

    def on_result(self, context, result):
        state = context.window_manager.ps4pro_job
        if not result.get("ok"):
            state.backend_report = f"Missing: {', '.join(result.get('missing', []))}"
            raise OperatorError(
                f"The backend Python {result.get('python')} lacks {', '.join(result.get('missing', []))}",
                "Press Set Up Backend in Preferences > Add-ons > PS4PRO, or set Backend Python to an "
                "environment with torch (e.g. .venv/backend/bin/python from scripts/setup.sh)",
                code=protocol.E_MISSING_DEPENDENCY,
            )
        state.backend_report = summary(result)
        self._summary = summary(result)

    def finished_report(self):
        return f"Backend OK: {self._summary}"


CLASSES = [PS4PRO_OT_check_backend]
