"""Layer "control": runs commands against the engine and keeps the event log.

:class:`Controller` is what ``sim/ctl`` and the writable per-pid files call;
:class:`EventLog` is what ``sim/events`` serves.
"""

from fakeproc.control._controller import SAVE_NOT_YET, Controller
from fakeproc.control._events import EventLog

__all__ = ["SAVE_NOT_YET", "Controller", "EventLog"]
