"""Source contracts: one YAML file per source, validated on load.

A contract says how to read a source's drop files and how its columns map onto the
canonical person record (docs/contracts.md). Every error names the file, the key
and what is allowed, so a data team can fix a contract without reading code.

Example::

    contracts = load_contracts(home / "sources")
    pension = contracts["old_age_pension"]
    pension.column_for("date_of_birth")   # -> "DOB"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ingest.schedule import Schedule, ScheduleError, parse_schedule

SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

KINDS = ("civil_registry", "tax_registry", "disability_registry", "programme", "social_registry")
FORMATS = ("csv", "parquet")
ENCODINGS = ("utf-8", "cp1252", "latin-1", "utf-16")
DROP_MODES = ("snapshot", "delta")
FULL_NAME_ORDERS = ("given_first", "surname_first")
EXTRA_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# how linkage compares an extra field: equal values, string similarity, shared words, or as a date
EXTRA_COMPARES = ("exact", "fuzzy", "token", "date")
EXTRA_FIELD_KEYS = {"column", "compare"}
# a delimiter DuckDB's CSV reader takes: at most 4 bytes of UTF-8 (files are read as UTF-8)
MAX_DELIMITER_BYTES = 4

FieldType = Literal["name", "date", "code", "id", "phone", "area", "text", "month", "number", "integer"]

# canonical field -> type; the order is the order of staging.person_records and the facts tables
CANONICAL_FIELDS: dict[str, FieldType] = {
    "first_name": "name",
    "middle_name": "name",
    "last_name": "name",
    "full_name": "name",
    "date_of_birth": "date",
    "sex": "code",
    "national_id": "id",
    "civil_registration_number": "id",
    "tax_number": "id",
    "phone": "phone",
    "admin1": "area",
    "admin2": "area",
    "locality": "text",
    "street_number": "text",
    "address_line": "text",
    "address_line_2": "text",
    "postcode": "text",
    "household_id": "text",
    "relationship_to_head": "text",
    "period": "month",
    "enrolment_status": "code",
    "benefit_amount": "number",
    "enrolment_date": "date",
    "event_type": "code",
    "date_of_death": "date",
    "tax_year": "integer",
    "income_annual": "number",
    "disability_type": "text",
    "disability_severity": "code",
    "assessment_date": "date",
}

# the canonical codes of each coded field: a contract maps source values onto these
CANONICAL_CODES: dict[str, tuple[str, ...]] = {
    "sex": ("F", "M"),
    "enrolment_status": ("active", "suspended", "exited"),
    "event_type": ("birth", "death"),
    "disability_severity": ("mild", "moderate", "severe", "profound"),
}

# fields a source of a kind must map, beyond a name: without them its facts mean nothing
KIND_REQUIRES: dict[str, tuple[str, ...]] = {
    "programme": ("period", "benefit_amount"),
    "civil_registry": ("event_type",),
    "tax_registry": ("tax_year", "income_annual"),
    "disability_registry": ("disability_severity",),
    "social_registry": (),
}

TOP_LEVEL_KEYS = {
    "name",
    "kind",
    "description",
    "programme_id",
    "drop_mode",
    "file",
    "date_formats",
    "period_formats",
    "record_id",
    "columns",
    "required",
    "codes",
    "full_name_order",
    "extra_fields",
    "schedule",
}
FILE_KEYS = {"format", "encoding", "delimiter", "quote", "header"}


# names an extra field may not take: the columns of staging.person_records, and what record linkage names
# its own columns (Splink's pair columns end in _l/_r; gamma_, tf_, bf_, mw_ prefix its comparison columns)
RESERVED_EXTRA_NAMES = {
    "source",
    "source_kind",
    "programme_id",
    "source_record_id",
    "dob_precision",
    "birth_year",
    "national_id_valid",
    "is_current",
    "last_seen_night",
    "source_file",
    "source_row_number",
    "source_file_sha256",
    "content_hash",
    "record_key",
    "unique_id",
    "source_dataset",
    "name_concat",
    "person_id",
    "match_weight",
    "match_probability",
    "field",
    "value",
    # the link input's derived columns (matching.linkage._prepare_input)
    "address",
    "address_tokens",
    "address_number",
    "first_name_key",
    "last_name_key",
    "link_fingerprint",
    "usable",
    "place",
}
RESERVED_EXTRA_AFFIXES = (("gamma_", "tf_", "bf_", "mw_"), ("_l", "_r"))


class ContractError(ValueError):
    """A source contract is invalid; the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class FileSpec:
    format: Literal["csv", "parquet"]
    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str = '"'


@dataclass(frozen=True)
class ExtraField:
    """A source column outside the canonical record that linkage may compare (`extra_fields` in a contract)."""

    column: str
    compare: Literal["exact", "fuzzy", "token", "date"]


@dataclass(frozen=True)
class Contract:
    """One source's contract, validated."""

    name: str
    kind: str
    drop_mode: Literal["snapshot", "delta"]
    file: FileSpec
    record_id: str
    columns: dict[str, str]
    required: tuple[str, ...]
    codes: dict[str, dict[str, str]]
    date_formats: tuple[str, ...]
    period_formats: tuple[str, ...] = ("%Y-%m",)
    programme_id: str | None = None
    description: str = ""
    full_name_order: str = "given_first"
    extra_fields: dict[str, ExtraField] = field(default_factory=dict)
    schedule: Schedule | None = (
        None  # when its drops come (ingest/schedule.py); None: not expected on any night
    )
    path: Path | None = field(default=None, compare=False)

    def column_for(self, canonical: str) -> str | None:
        """The source column mapped to a canonical field, or None if the source lacks it."""
        return self.columns.get(canonical)

    @property
    def source_columns(self) -> list[str]:
        """Every source column the contract reads: the record id first, then the mapped fields."""
        seen = [self.record_id]
        seen += [c for c in self.columns.values() if c not in seen]
        seen += [e.column for e in self.extra_fields.values() if e.column not in seen]
        return seen

    def fields_of_column(self, column: str) -> list[str]:
        """What the contract reads a source column as: `record_id`, canonical fields, `extra_fields.<name>`."""
        roles = ["record_id"] if column == self.record_id else []
        roles += [canonical for canonical, mapped in self.columns.items() if mapped == column]
        roles += [
            f"extra_fields.{name}" for name, extra in self.extra_fields.items() if extra.column == column
        ]
        return roles


def _fail(path: Path, key: str, message: str) -> ContractError:
    return ContractError(f"{path}: '{key}': {message}")


def _choice(path: Path, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        return_allowed = ", ".join(allowed)
        raise _fail(path, key, f"got {value!r}; allowed: {return_allowed}")
    return str(value)


def _string_list(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, key, "must be a non-empty list of strings")
    return tuple(value)


def _check_format(path: Path, key: str, fmt: str) -> None:
    if "%" not in fmt:
        raise _fail(path, key, f"{fmt!r} is not a strptime format (e.g. %d/%m/%Y)")
    if not re.fullmatch(r"(%[YmdbBy]|[^%])+", fmt):
        raise _fail(path, key, f"{fmt!r}: only %Y %y %m %d %b %B and literal characters are supported")


def parse_contract(raw: Any, path: Path) -> Contract:
    """Validate one contract's parsed YAML; raise ContractError naming the file and key."""
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: a contract is a YAML mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise _fail(path, unknown[0], f"unknown key; allowed: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    for key in ("name", "kind", "file", "record_id", "columns"):
        if key not in raw:
            raise _fail(path, key, "missing (required)")

    name = raw["name"]
    if not isinstance(name, str) or not SOURCE_NAME.match(name):
        raise _fail(path, "name", f"got {name!r}; must match {SOURCE_NAME.pattern}")
    if path.suffix in (".yaml", ".yml") and path.stem != name:
        raise _fail(path, "name", f"is {name!r} but the file is {path.name}; they must agree")
    kind = _choice(path, "kind", raw["kind"], KINDS)
    drop_mode = _choice(path, "drop_mode", raw.get("drop_mode", "snapshot"), DROP_MODES)

    file_raw = raw["file"]
    if not isinstance(file_raw, dict):
        raise _fail(path, "file", "must be a mapping with format, encoding, delimiter")
    unknown = sorted(set(file_raw) - FILE_KEYS)
    if unknown:
        raise _fail(path, f"file.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(FILE_KEYS))}")
    fmt = _choice(path, "file.format", file_raw.get("format"), FORMATS)
    encoding = _choice(path, "file.encoding", file_raw.get("encoding", "utf-8"), ENCODINGS)
    delimiter = file_raw.get("delimiter", ",")
    quote = file_raw.get("quote", '"')
    if not isinstance(quote, str) or len(quote) != 1 or quote in "\r\n":
        raise _fail(path, "file.quote", f"got {quote!r}; must be one character (not a newline)")
    if (
        not isinstance(delimiter, str)
        or not 1 <= len(delimiter.encode("utf-8")) <= MAX_DELIMITER_BYTES
        or "\r" in delimiter
        or "\n" in delimiter
        or quote in delimiter
    ):
        raise _fail(
            path,
            "file.delimiter",
            f"got {delimiter!r}; must be 1 to {MAX_DELIMITER_BYTES} bytes (e.g. ',' or ', '), "
            "without a newline or the quote character",
        )
    if file_raw.get("header", True) is not True:
        raise _fail(path, "file.header", "must be true: columns are mapped by their header names")

    record_id = raw["record_id"]
    if not isinstance(record_id, str) or not record_id:
        raise _fail(path, "record_id", "must be the name of the source column that identifies a record")

    columns_raw = raw["columns"]
    if not isinstance(columns_raw, dict) or not columns_raw:
        raise _fail(path, "columns", "must map canonical fields to source columns")
    columns: dict[str, str] = {}
    for canonical, column in columns_raw.items():
        if canonical not in CANONICAL_FIELDS:
            raise _fail(
                path, f"columns.{canonical}", f"not a canonical field; allowed: {', '.join(CANONICAL_FIELDS)}"
            )
        if not isinstance(column, str) or not column:
            raise _fail(path, f"columns.{canonical}", "must name a source column")
        columns[canonical] = column
    if not ({"last_name", "full_name"} & set(columns)):
        raise _fail(
            path, "columns", "must map last_name or full_name: a record without a name cannot be linked"
        )
    for needed in KIND_REQUIRES[kind]:
        if needed not in columns:
            raise _fail(path, f"columns.{needed}", f"missing: a {kind} source must map it")

    required_raw = raw.get("required", [])
    required = _string_list(path, "required", required_raw) if required_raw != [] else ()
    for canonical in required:
        if canonical not in columns:
            raise _fail(path, "required", f"{canonical!r} is required but not mapped in columns")

    codes: dict[str, dict[str, str]] = {}
    codes_raw = raw.get("codes", {}) or {}
    if not isinstance(codes_raw, dict):
        raise _fail(path, "codes", "must map coded fields to {source value: canonical code}")
    for canonical, mapping in codes_raw.items():
        if canonical not in CANONICAL_CODES:
            raise _fail(
                path, f"codes.{canonical}", f"not a coded field; allowed: {', '.join(CANONICAL_CODES)}"
            )
        if canonical not in columns:
            raise _fail(path, f"codes.{canonical}", "has codes but the field is not mapped in columns")
        if not isinstance(mapping, dict) or not mapping:
            raise _fail(path, f"codes.{canonical}", "must map source values to canonical codes")
        allowed = CANONICAL_CODES[canonical]
        for source_value, code in mapping.items():
            if code not in allowed:
                raise _fail(
                    path, f"codes.{canonical}.{source_value}", f"got {code!r}; allowed: {', '.join(allowed)}"
                )
        codes[canonical] = {str(k): str(v) for k, v in mapping.items()}

    date_formats = _string_list(path, "date_formats", raw.get("date_formats", ["%Y-%m-%d"]))
    for fmt_ in date_formats:
        _check_format(path, "date_formats", fmt_)
    period_formats = _string_list(path, "period_formats", raw.get("period_formats", ["%Y-%m"]))
    for fmt_ in period_formats:
        _check_format(path, "period_formats", fmt_)

    programme_id = raw.get("programme_id")
    if kind == "programme":
        if not isinstance(programme_id, str) or not SOURCE_NAME.match(programme_id):
            raise _fail(path, "programme_id", f"a programme source needs one matching {SOURCE_NAME.pattern}")
    elif programme_id is not None:
        raise _fail(path, "programme_id", f"only programme sources have one; this source is a {kind}")

    full_name_order = _choice(
        path, "full_name_order", raw.get("full_name_order", "given_first"), FULL_NAME_ORDERS
    )

    extra_fields = _extra_fields(path, raw.get("extra_fields", {}))
    try:
        schedule = parse_schedule(raw.get("schedule"), path)
    except ScheduleError as exc:
        raise ContractError(str(exc)) from None

    return Contract(
        name=name,
        kind=kind,
        drop_mode=drop_mode,  # type: ignore[arg-type]
        file=FileSpec(format=fmt, encoding=encoding, delimiter=delimiter, quote=quote),  # type: ignore[arg-type]
        record_id=record_id,
        columns=columns,
        required=required,
        codes=codes,
        date_formats=date_formats,
        period_formats=period_formats,
        programme_id=programme_id,
        description=str(raw.get("description", "")),
        full_name_order=full_name_order,
        extra_fields=extra_fields,
        schedule=schedule,
        path=path,
    )


def _extra_fields(path: Path, raw: Any) -> dict[str, ExtraField]:
    """`extra_fields: {name: {column: SOURCE_COLUMN, compare: exact|fuzzy|token|date}}`, validated.

    The names become identifiers (in SQL, and as linkage's comparison columns): they follow
    `EXTRA_FIELD_NAME` and may not take a canonical field's name or a name linkage uses itself.
    """
    if raw is None or raw == {}:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, "extra_fields", "must map field names to {column: ..., compare: ...}")
    extras: dict[str, ExtraField] = {}
    for name, spec in raw.items():
        key = f"extra_fields.{name}"
        if not isinstance(name, str) or not EXTRA_FIELD_NAME.match(name):
            raise _fail(path, key, f"not a valid field name; must match {EXTRA_FIELD_NAME.pattern}")
        if name in CANONICAL_FIELDS:
            raise _fail(path, key, "is a canonical field: map it under columns instead")
        prefixes, suffixes = RESERVED_EXTRA_AFFIXES
        if name in RESERVED_EXTRA_NAMES or name.startswith(prefixes) or name.endswith(suffixes):
            raise _fail(
                path,
                key,
                "is a name the registry or linkage uses itself (a staging.person_records column, or one "
                f"starting {', '.join(prefixes)} or ending {', '.join(suffixes)}); choose another",
            )
        if not isinstance(spec, dict):
            raise _fail(
                path, key, "must be a mapping {column: SOURCE_COLUMN, compare: exact|fuzzy|token|date}"
            )
        unknown = sorted(set(spec) - EXTRA_FIELD_KEYS)
        if unknown:
            raise _fail(
                path, f"{key}.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(EXTRA_FIELD_KEYS))}"
            )
        column = spec.get("column")
        if not isinstance(column, str) or not column:
            raise _fail(path, f"{key}.column", "must name a source column")
        compare = _choice(path, f"{key}.compare", spec.get("compare", "exact"), EXTRA_COMPARES)
        extras[name] = ExtraField(column=column, compare=compare)  # type: ignore[arg-type]
    return extras


def extra_field_kinds(contracts: dict[str, Contract] | list[Contract]) -> dict[str, str]:
    """Every extra field any contract declares, with how linkage compares it: `{field: compare}`.

    The values of these fields are in `staging.person_extra(source, source_record_id, field, value)`
    (one row per record and non-empty field; `date` ones as ISO `YYYY-MM-DD` text); linkage pivots
    them into one column per field. Two contracts that declare one field with different `compare`
    raise ContractError naming both.

    >>> extra_field_kinds(contracts)
    {'birth_place': 'fuzzy', 'email': 'exact', 'occupation': 'exact'}
    """
    kinds: dict[str, str] = {}
    declared_by: dict[str, Contract] = {}
    for contract in contracts.values() if isinstance(contracts, dict) else contracts:
        for name, extra in contract.extra_fields.items():
            if name in kinds and kinds[name] != extra.compare:
                raise _fail(
                    contract.path or Path(contract.name),
                    f"extra_fields.{name}.compare",
                    f"is {extra.compare!r} but {declared_by[name].path or declared_by[name].name} compares "
                    f"{name!r} as {kinds[name]!r}; one field is compared one way",
                )
            kinds.setdefault(name, extra.compare)
            declared_by.setdefault(name, contract)
    return dict(sorted(kinds.items()))


def load_contract(path: Path) -> Contract:
    """Read and validate one contract file."""
    try:
        with path.open(encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ContractError(f"{path}: not UTF-8 text at byte {exc.start}") from exc
    return parse_contract(raw, path)


def load_contracts(folder: Path) -> dict[str, Contract]:
    """Every `*.yaml` contract in a folder, by source name; raises on the first invalid one."""
    if not folder.is_dir():
        raise ContractError(f"{folder}: no sources folder; put one YAML contract per source there")
    contracts: dict[str, Contract] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        contract = load_contract(path)
        if contract.name in contracts:
            raise _fail(
                path, "name", f"{contract.name!r} is already defined by {contracts[contract.name].path}"
            )
        contracts[contract.name] = contract
    extra_field_kinds(contracts)  # one extra field is compared one way by every source
    return contracts
