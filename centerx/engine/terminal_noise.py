"""A quiet terminal at the start of a run: what mmengine and its deprecations print there that a
user does not need to read, kept in the run's log file.

:class:`TerminalNoiseFilter` drops, on the terminal handler only, the system-environment block,
the full config dump (the config is written to the work dir), the hook order table, the SyncBN
note and every ``Loads checkpoint by ... backend`` line; :class:`DeprecationNoiseFilter` drops
mmengine's ``FileClient`` / ``HardDiskBackend`` deprecation warnings (logged through the logger)
everywhere. :func:`quiet_terminal` installs both; the tools' runner does
(:class:`~centerx.engine.launch.QuietStartRunner`).
"""
from __future__ import annotations

import logging
from typing import Tuple

#: message starts (after leading whitespace) the terminal leaves out; the log file keeps them
NOISE_PREFIXES: Tuple[str, ...] = (
    '-' * 60 + '\nSystem environment:', 'Config:\n', 'Hooks will be executed in the following order',
    'Distributed training is not used, all SyncBatchNorm', 'Loads checkpoint by ',
)
#: third-party deprecation messages filtered everywhere (terminal and file): they ask nothing of a user
DEPRECATION_SNIPPETS: Tuple[str, ...] = ('"FileClient" will be deprecated',
                                         '"HardDiskBackend" is the alias of "LocalBackend"')


class TerminalNoiseFilter(logging.Filter):
    """A ``logging.Filter`` for the terminal handler: False for the records of :data:`NOISE_PREFIXES`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.getMessage()).lstrip('\n')
        return not message.startswith(NOISE_PREFIXES)


class DeprecationNoiseFilter(logging.Filter):
    """A ``logging.Filter`` for a logger: False for the records of :data:`DEPRECATION_SNIPPETS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.getMessage())
        return not any(s in message for s in DEPRECATION_SNIPPETS)


def quiet_terminal(logger: logging.Logger) -> None:
    """Add :class:`TerminalNoiseFilter` to the terminal (non-file) handlers of ``logger`` and
    :class:`DeprecationNoiseFilter` to the logger; idempotent."""
    if not any(isinstance(f, DeprecationNoiseFilter) for f in logger.filters):
        logger.addFilter(DeprecationNoiseFilter())
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) \
                and not any(isinstance(f, TerminalNoiseFilter) for f in handler.filters):
            handler.addFilter(TerminalNoiseFilter())

