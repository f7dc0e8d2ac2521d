"""Running work from Blender: the driver that runs an operator's body (modal in the UI, blocking
in scripts), the backend process (``process``: standard library only) and the Blender-side glue
that turns a backend job into an operator (``backend``)."""
