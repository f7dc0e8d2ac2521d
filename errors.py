"""The one error a Blender-side step raises: a short message for the report, a hint that says
what to do, and a code the panel can offer a fix for. Raised by operators, the scene modules and
the job glue alike, so it sits below all of them."""


class OperatorError(Exception):
    """Ends an operator with a short ERROR report; ``hint`` says what to do about it and ``code``
    (a ``protocol.E_*`` code, or "") lets the panel offer the fix, e.g. Set Up Backend."""

    def __init__(self, message: str, hint: str = "", code: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def report_text(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
