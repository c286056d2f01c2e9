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
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from core.configerrors import ContractError, KeyedValueError, error_lines
from ingest.schedule import Schedule, ScheduleModel

SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

KINDS = ("civil_registry", "tax_registry", "disability_registry", "programme", "social_registry")
FORMATS = ("csv", "parquet")
ENCODINGS = ("utf-8", "cp1252", "latin-1", "utf-16")
DROP_MODES = ("snapshot", "delta")
FULL_NAME_ORDERS = ("given_first", "surname_first")
EXTRA_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# how linkage compares an extra field: equal values, string similarity, shared words, or as a date
EXTRA_COMPARES = ("exact", "fuzzy", "token", "date")
# a delimiter DuckDB's CSV reader takes: at most 4 bytes of UTF-8 (files are read as UTF-8)
MAX_DELIMITER_BYTES = 4

FieldType = Literal["name", "date", "code", "id", "phone", "area", "text", "month", "number", "integer"]

# canonical field -> type; the order is the order of staging.person_records and the facts tables
CANONICAL_FIELDS: dict[str, FieldType] = {
    "first_name": "name",
    "middle_name": "name",
    "last_name": "name",
    "second_last_name": "name",
    "father_name": "name",
    "grandfather_name": "name",
    "mother_name": "name",
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

# the fields that name the person (a mother's name names someone else)
NAME_FIELDS = ("first_name", "last_name", "full_name", "father_name")

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
    # the link input's derived columns (matching.link_input.prepare_input)
    "address",
    "address_tokens",
    "address_number",
    "first_name_key",
    "last_name_key",
    "given_name",
    "given_key",
    "name_tokens",
    "name_keys",
    "name_sorted",
    "other_names",
    "name",
    "dob_default",
    "other_key",
    "given_keys",
    "other_keys",
    "national_id_digits",
    "link_fingerprint",
    "usable",
    "place",
}
RESERVED_EXTRA_AFFIXES = (("gamma_", "tf_", "bf_", "mw_"), ("_l", "_r"))


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


def _one_of(values: tuple[str, ...] | list[str]) -> Any:
    return Literal[tuple(values)]  # type: ignore[valid-type]


def _check_format(fmt: str) -> str:
    if "%" not in fmt:
        raise ValueError(f"{fmt!r} is not a strptime format (e.g. %d/%m/%Y)")
    if not re.fullmatch(r"(%[YmdbBy]|[^%])+", fmt):
        raise ValueError(f"{fmt!r}: only %Y %y %m %d %b %B and literal characters are supported")
    return fmt


_STRICT = ConfigDict(extra="forbid")
Formats = list[Annotated[str, AfterValidator(_check_format)]]
CanonicalField = _one_of(list(CANONICAL_FIELDS))
SourceColumn = Annotated[str, Field(min_length=1, description="A column of the source's drop files.")]


class FileSpecModel(BaseModel):
    """`file`: how the drop files are read."""

    model_config = _STRICT
    format: _one_of(FORMATS) = Field(description="Drop file format.")  # type: ignore[valid-type]
    encoding: _one_of(ENCODINGS) = "utf-8"  # type: ignore[valid-type]
    delimiter: str = Field(",", description=f"CSV delimiter, 1 to {MAX_DELIMITER_BYTES} bytes.")
    quote: str = Field('"', description="CSV quote character, one character.")
    header: bool = Field(True, description="Must be true: columns are mapped by their header names.")

    @model_validator(mode="after")
    def _csv_dialect(self) -> FileSpecModel:
        if len(self.quote) != 1 or self.quote in "\r\n":
            raise KeyedValueError("quote", f"got {self.quote!r}; must be one character (not a newline)")
        delimiter = self.delimiter
        if (
            not 1 <= len(delimiter.encode("utf-8")) <= MAX_DELIMITER_BYTES
            or "\r" in delimiter
            or "\n" in delimiter
            or self.quote in delimiter
        ):
            raise KeyedValueError(
                "delimiter",
                f"got {delimiter!r}; must be 1 to {MAX_DELIMITER_BYTES} bytes (e.g. ',' or ', '), "
                "without a newline or the quote character",
            )
        if self.header is not True:
            raise KeyedValueError("header", "must be true: columns are mapped by their header names")
        return self


class ExtraFieldModel(BaseModel):
    """One of `extra_fields`: a source column linkage may compare."""

    model_config = _STRICT
    column: SourceColumn
    compare: _one_of(EXTRA_COMPARES) = "exact"  # type: ignore[valid-type]


def _codes_of(codes: tuple[str, ...]) -> Any:
    """{source value: canonical code}, or null."""
    return dict[str, _one_of(codes)] | None  # type: ignore[misc]


def _source_values_as_text(value: Any) -> Any:
    """YAML reads `{1: M, 2: F}` with number keys: source values are compared as text."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


CodesModel = create_model(  # type: ignore[call-overload]
    "CodesModel",
    __config__=_STRICT,
    __doc__="`codes`: per coded field, {source value: canonical code}.",
    __validators__={
        "_text_keys": field_validator(*CANONICAL_CODES, mode="before")(_source_values_as_text),
    },
    **{name: (_codes_of(codes), None) for name, codes in CANONICAL_CODES.items()},
)


def _extra_field_name(name: str) -> str:
    """The names become identifiers (in SQL, and linkage's comparison columns): plain new names only."""
    if not EXTRA_FIELD_NAME.match(name):
        raise ValueError(f"not a valid field name; must match {EXTRA_FIELD_NAME.pattern}")
    if name in CANONICAL_FIELDS:
        raise ValueError("is a canonical field: map it under columns instead")
    prefixes, suffixes = RESERVED_EXTRA_AFFIXES
    if name in RESERVED_EXTRA_NAMES or name.startswith(prefixes) or name.endswith(suffixes):
        raise ValueError(
            "is a name the registry or linkage uses itself (a staging.person_records column, or one "
            f"starting {', '.join(prefixes)} or ending {', '.join(suffixes)}); choose another"
        )
    return name


class ContractModel(BaseModel):
    """A source contract, `sources/<name>.yaml` (docs/contracts.md): its shape, field by field.

    `parse_contract` validates a file with it, then checks what ties fields together (a name field is
    mapped, what the source's kind needs, `required` and `codes` name mapped fields, `programme_id`).
    """

    model_config = ConfigDict(extra="forbid", title="IBR source contract")
    name: str = Field(description="The source's name; equals the file's name.")
    kind: _one_of(KINDS)  # type: ignore[valid-type]
    description: str = ""
    programme_id: str | None = Field(None, description="Programme sources only (programmes.yaml).")
    drop_mode: _one_of(DROP_MODES) = "snapshot"  # type: ignore[valid-type]
    file: FileSpecModel
    date_formats: Formats = Field(default_factory=lambda: ["%Y-%m-%d"], min_length=1)
    period_formats: Formats = Field(default_factory=lambda: ["%Y-%m"], min_length=1)
    record_id: SourceColumn
    columns: dict[CanonicalField, SourceColumn] = Field(  # type: ignore[valid-type]
        min_length=1, description="Canonical field -> source column."
    )
    required: list[CanonicalField] | None = Field(None, description="Fields a row must have.")  # type: ignore[valid-type]
    codes: CodesModel | None = None  # type: ignore[valid-type]
    full_name_order: _one_of(FULL_NAME_ORDERS) = "given_first"  # type: ignore[valid-type]
    schedule: ScheduleModel | None = Field(None, description="When the drops come; none: never awaited.")
    extra_fields: dict[str, ExtraFieldModel] | None = Field(
        None, description="Source columns outside the canonical record that linkage may compare."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, name: str, info: ValidationInfo) -> str:
        if not SOURCE_NAME.match(name):
            raise ValueError(f"got {name!r}; must match {SOURCE_NAME.pattern}")
        path = (info.context or {}).get("path")
        if isinstance(path, Path) and path.suffix in (".yaml", ".yml") and path.stem != name:
            raise ValueError(f"is {name!r} but the file is {path.name}; they must agree")
        return name

    @field_validator("programme_id")
    @classmethod
    def _programme_id(cls, programme_id: str | None) -> str | None:
        if programme_id is not None and not SOURCE_NAME.match(programme_id):
            raise ValueError(f"got {programme_id!r}; must match {SOURCE_NAME.pattern}")
        return programme_id

    @field_validator("extra_fields")
    @classmethod
    def _extra_names(cls, extras: dict[str, ExtraFieldModel] | None) -> dict[str, ExtraFieldModel] | None:
        for name in extras or {}:
            try:
                _extra_field_name(name)
            except ValueError as exc:
                raise KeyedValueError(name, str(exc)) from None
        return extras


# what a key of these mappings is, in the message when it is not one
_KEY_NOUNS = {"columns": "a canonical field", "codes": "a coded field"}


def parse_contract(raw: Any, path: Path) -> Contract:
    """Validate one contract's parsed YAML (`ContractModel`, then the rules across fields); raise
    ContractError naming the file and every key at fault."""
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: a contract is a YAML mapping, got {type(raw).__name__}")
    if isinstance(raw.get("extra_fields"), dict):  # hostile names are refused before pydantic echoes them
        raw = {**raw, "extra_fields": {str(k): v for k, v in raw["extra_fields"].items()}}
    try:
        model = ContractModel.model_validate(raw, context={"path": path})
    except ValidationError as exc:
        lines = error_lines(exc, ContractModel, _KEY_NOUNS)
        raise ContractError(f"{path}: " + f"\n{path}: ".join(lines)) from None

    name, kind, columns = model.name, str(model.kind), dict(model.columns)
    if not (set(NAME_FIELDS) & set(columns)):
        raise _fail(
            path,
            "columns",
            f"must map a name ({', '.join(NAME_FIELDS)}): a record without a name cannot be linked",
        )
    for needed in KIND_REQUIRES[kind]:
        if needed not in columns:
            raise _fail(path, f"columns.{needed}", f"missing: a {kind} source must map it")
    required = tuple(model.required or ())
    for canonical in required:
        if canonical not in columns:
            raise _fail(path, "required", f"{canonical!r} is required but not mapped in columns")
    codes: dict[str, dict[str, str]] = {}
    given: dict[str, dict[str, str]] = model.codes.model_dump(exclude_none=True) if model.codes else {}
    for canonical, mapping in given.items():
        if canonical not in columns:
            raise _fail(path, f"codes.{canonical}", "has codes but the field is not mapped in columns")
        if not mapping:
            raise _fail(path, f"codes.{canonical}", "must map source values to canonical codes")
        codes[canonical] = dict(mapping)
    programme_id = model.programme_id
    if kind == "programme" and programme_id is None:
        raise _fail(path, "programme_id", f"a programme source needs one matching {SOURCE_NAME.pattern}")
    if kind != "programme" and programme_id is not None:
        raise _fail(path, "programme_id", f"only programme sources have one; this source is a {kind}")

    return Contract(
        name=name,
        kind=kind,
        drop_mode=model.drop_mode,
        file=FileSpec(
            format=model.file.format,
            encoding=model.file.encoding,
            delimiter=model.file.delimiter,
            quote=model.file.quote,
        ),
        record_id=model.record_id,
        columns=columns,
        required=required,
        codes=codes,
        date_formats=tuple(model.date_formats),
        period_formats=tuple(model.period_formats),
        programme_id=programme_id,
        description=model.description,
        full_name_order=model.full_name_order,
        extra_fields={
            n: ExtraField(column=e.column, compare=e.compare) for n, e in (model.extra_fields or {}).items()
        },
        schedule=model.schedule.to_schedule() if model.schedule else None,
        path=path,
    )


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
