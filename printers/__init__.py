"""ESC/POS printing: layouts, connections, spool. Imports nothing else of ours.

* :mod:`printers.uri`: ``tcp://``, ``usb://``, ``serial://``, ``file://`` printer URIs,
  :func:`send` and :func:`open_printer`, :class:`PrinterError`.
* :mod:`printers.layouts`: :class:`TicketPrint` / :class:`ReceiptPrint` to ESC/POS bytes.
* :mod:`printers.vietnamese`: Vietnamese text (CP1258, TCVN-3, image or ASCII).
* :mod:`printers.status`: real-time status (``DLE EOT``) with a short timeout.
* :mod:`printers.spool`: stored jobs, retries with backoff, printer state changes.
"""

from printers.layouts import ReceiptPrint, TicketPrint, receipt_bytes, ticket_bytes
from printers.spool import (
    Job,
    JobStatus,
    JobStore,
    MemoryJobStore,
    PrinterState,
    Spool,
    SQLiteJobStore,
    Worker,
    backoff_delay,
)
from printers.status import PrinterStatus, StatusReport, query, query_status
from printers.uri import PrinterError, PrinterURI, open_printer, parse_uri, send
from printers.vietnamese import TextMode, choose_mode

__all__ = [
    "Job",
    "JobStatus",
    "JobStore",
    "MemoryJobStore",
    "PrinterError",
    "PrinterState",
    "PrinterStatus",
    "PrinterURI",
    "ReceiptPrint",
    "SQLiteJobStore",
    "Spool",
    "StatusReport",
    "TextMode",
    "TicketPrint",
    "Worker",
    "backoff_delay",
    "choose_mode",
    "open_printer",
    "parse_uri",
    "query",
    "query_status",
    "receipt_bytes",
    "send",
    "ticket_bytes",
]
