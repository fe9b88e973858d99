"""The built-in tasks register themselves on import, as a config's ``custom_imports`` makes them
(the core names no task): the tests import them once here."""
import centerx_tasks  # noqa: F401
