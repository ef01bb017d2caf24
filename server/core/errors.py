"""Domain errors with a stable code, an HTTP status and a message in Vietnamese and English."""

from __future__ import annotations

from typing import Any

from server.core.catalogs import DEFAULT, LANGS, catalogs, fill

# The HTTP status of each error code. Its message, in each language, is the catalogs' entry
# of the same key (area "errors"; docs/operations.md, "Wording"): a province can reword it.
STATUS_CODES: dict[str, int] = {
    "bad_json": 400,
    "database_unavailable": 503,
    "schema_behind": 503,
    "bad_header": 400,
    "body_too_large": 413,
    "nul_character": 400,
    "json_too_deep": 400,
    "number_out_of_range": 422,
    "validation_error": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "csrf_failed": 403,
    "not_found": 404,
    "route_not_found": 404,
    "method_not_allowed": 405,
    "unknown_service": 422,
    "unknown_priority": 422,
    "service_inactive": 409,
    "illegal_transition": 409,
    "counter_not_open": 409,
    "counter_busy": 409,
    "idempotency_conflict": 409,
    "wrong_counter": 409,
    "no_printer": 409,
    "reprint_not_needed": 409,
    "same_service": 409,
    "rate_limited": 429,
    "pairing_unknown": 404,
    "pairing_used": 409,
    "pairing_busy": 429,
    "pairing_expired": 410,
    "illegal_dossier_step": 409,
    "reason_required": 422,
    "bad_id_number": 422,
    "applicant_required": 422,
    "unknown_procedure": 422,
    "ticket_not_served": 409,
    "already_rated": 409,
    "rating_closed": 409,
    "nothing_to_rate": 409,
    "site_holiday": 409,
    "site_closed_now": 409,
    "service_after_last_ticket": 409,
    "service_cap_reached": 409,
    "config_invalid": 422,
    "internal_error": 500,
    "site_not_nearby": 422,
    "tickets_not_waiting": 409,
    "invalid_phone": 422,
    "phone_consent_required": 422,
    "messages_unavailable": 409,
    "unknown_channel": 422,
    "channel_config_invalid": 422,
    "template_too_long": 422,
    "booking_not_offered": 409,
    "booking_day_out_of_range": 422,
    "booking_day_closed": 409,
    "booking_no_such_slot": 422,
    "booking_slot_past": 409,
    "booking_slot_full": 409,
    "booking_limit_day": 409,
    "booking_limit_service": 409,
    "booking_blocked": 409,
    "booking_bad_id": 422,
    "booking_not_found": 404,
    "booking_hold_expired": 409,
    "booking_code_expired": 409,
    "booking_code_wrong": 422,
    "booking_code_attempts": 409,
    "booking_already_confirmed": 409,
    "booking_not_active": 409,
    "booking_not_cancellable": 409,
    "booking_already_checked_in": 409,
    "booking_other_site": 409,
    "booking_not_today": 409,
    "too_early": 409,
    "challenge_required": 422,
    "challenge_invalid": 422,
    "challenge_replayed": 409,
}
# A parameter named like one of these areas is a key shown in the language of the message.
_NAMED = {"action": "errors.action", "status": "errors.status", "what": "errors.what",
          "field": "errors.field"}


class AppError(Exception):
    def __init__(self, error_code: str, /, **params: Any) -> None:
        if error_code not in STATUS_CODES:
            raise KeyError(error_code)
        self.code = error_code
        self.status = STATUS_CODES[error_code]
        self.params = params
        # Fields the error body carries next to code and message (e.g. ``come_back_at``).
        self.data: dict[str, Any] = {}
        super().__init__(self.message("en"))

    def message(self, lang: str = "vi") -> str:
        """The message in ``lang`` from the catalogs. A placeholder ``{x}`` takes the parameter
        ``x_vi``/``x_en`` of that language when the caller gave one, else ``x`` (an action,
        status or kind of record named by its key is shown in that language)."""
        lang = lang if lang in LANGS else DEFAULT
        template = catalogs.text("errors", self.code, lang)
        values: dict[str, Any] = {}
        for name, value in self.params.items():
            area = _NAMED.get(name)
            if area and isinstance(value, str):
                shown = catalogs.text(area, value, lang)
                if shown == value and name == "action":
                    shown = value.replace("_", "-")
                value = shown
            values[name] = value
        for name, value in self.params.items():
            if name.endswith(f"_{lang}"):
                values[name[: -len(lang) - 1]] = value
        return fill(template, **values)


def not_found(what: str) -> AppError:
    return AppError("not_found", what=what)
