"""National settings that are not per source: the national id format, phone numbers, the currency."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.configerrors import ContractError

CHECK_DIGITS = ("luhn", "none")


@dataclass(frozen=True)
class Country:
    name: str = "unnamed"
    national_id_pattern: str = r"^[0-9A-Za-z]+$"
    national_id_check_digit: str = "none"
    phone_country_code: str = ""
    phone_national_digits: int = 0
    # the unit of every amount in the reports (an ISO 4217 code or a name); empty: not said
    currency: str = ""


def load_country(home: Path) -> Country:
    """Read `<home>/country.yaml`; without one, ids are kept as sent and never marked valid by a check digit."""
    path = home / "country.yaml"
    if not path.exists():
        return Country()
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: must be a YAML mapping")
    nid = raw.get("national_id", {}) or {}
    phone = raw.get("phone", {}) or {}
    pattern = str(nid.get("pattern", Country.national_id_pattern))
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ContractError(f"{path}: 'national_id.pattern': not a regular expression ({exc})") from None
    check = str(nid.get("check_digit", "none"))
    if check not in CHECK_DIGITS:
        raise ContractError(
            f"{path}: 'national_id.check_digit': got {check!r}; allowed: {', '.join(CHECK_DIGITS)}"
        )
    code = str(phone.get("country_code", ""))
    if code and not code.isdigit():
        raise ContractError(f"{path}: 'phone.country_code': must be digits, got {code!r}")
    digits = phone.get("national_digits", 0)
    if not isinstance(digits, int) or digits < 0:
        raise ContractError(f"{path}: 'phone.national_digits': must be a whole number ≥ 0")
    currency = raw.get("currency", "")
    if not isinstance(currency, str):
        raise ContractError(f"{path}: 'currency': must be a text such as ZMW or 'kwacha', got {currency!r}")
    return Country(str(raw.get("name", "unnamed")), pattern, check, code, digits, currency.strip())
