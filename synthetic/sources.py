"""Source records: what each source holds about people, night by night.

A builder per source kind turns the true population and the enrolments into one
frame per drop file, in canonical fields (``first_name``, ``date_of_birth``,
``period`` ...) plus ``_record_id`` and ``_person`` (the truth, dropped before
writing). Which fields a source carries is read from its contract in ``sources/``,
so a contract and its drops cannot disagree; how it writes them (id and phone
formats, area codes or names, capitals) is its ``Style``; how often it gets them
wrong is its ``NoiseRates``.

Records are built once per source, over every record any night holds, so a
snapshot source sends the same record (same id, same typos) night after night;
only the monthly fields (period, status, amount) change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from synthetic.geography import Gazetteer, area_labels
from synthetic.ids import prefixed_codes
from synthetic.names import NameBank
from synthetic.nights import NO_DATE, Night, night_of
from synthetic.noise import (
    NoiseRates,
    blank,
    case_noise,
    dob_noise,
    drop_accents,
    mistype_digits,
    substitute,
    swap,
    typos,
    whitespace_noise,
)
from synthetic.population import RELATIONSHIPS, SEVERITIES, Population
from synthetic.programmes import STATUSES, Simulation
from synthetic.rng import pick, stream

EXTRA = "x:"  # prefix of frame columns written as extra source columns (not in the contract)


@dataclass(frozen=True)
class Contract:
    """The parts of a source contract (docs/contracts.md) the generator writes by."""

    name: str
    kind: str
    programme_id: str | None
    file_format: str
    encoding: str
    delimiter: str
    quote: str
    date_formats: tuple[str, ...]
    period_formats: tuple[str, ...]
    record_id: str
    columns: dict[str, str]
    required: tuple[str, ...]
    codes: dict[str, dict[str, str]]
    full_name_order: str

    def format_for(self, precision: str) -> str | None:
        """The first date format of a precision (``day``, ``month``, ``year``), if any."""
        for fmt in self.date_formats:
            has_day, has_month = "%d" in fmt, "%m" in fmt or "%b" in fmt or "%B" in fmt
            kind = "day" if has_day else ("month" if has_month else "year")
            if kind == precision:
                return fmt
        return None


def read_contract(path: Path) -> Contract:
    """Read one contract file. The ingestion validates contracts fully; this reads what
    writing needs and fails with the file and key when something is missing."""
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    try:
        file = raw["file"]
        return Contract(
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            programme_id=raw.get("programme_id"),
            file_format=str(file["format"]),
            encoding=str(file.get("encoding", "utf-8")),
            delimiter=str(file.get("delimiter", ",")),
            quote=str(file.get("quote", '"')),
            date_formats=tuple(raw.get("date_formats", ["%Y-%m-%d"])),
            period_formats=tuple(raw.get("period_formats", ["%Y-%m"])),
            record_id=str(raw["record_id"]),
            columns={str(k): str(v) for k, v in raw["columns"].items()},
            required=tuple(raw.get("required", [])),
            codes={
                str(f): {str(k): str(v) for k, v in m.items()} for f, m in (raw.get("codes") or {}).items()
            },
            full_name_order=str(raw.get("full_name_order", "given_first")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: contract lacks {exc}; see docs/contracts.md") from None


@dataclass(frozen=True)
class Style:
    """How one source writes what it holds: conventions, not errors."""

    record_prefix: str = "R"
    record_digits: int = 8
    file_name: str = "{source}_{drop}"  # {source}, {drop} (YYYYMMDD), {period} (YYYYMM), {month}, {year}
    nid_format: str = "plain"  # plain | dashed | spaced
    phone_formats: tuple[str, ...] = ("local",)
    admin1: str = "code"  # see geography.area_labels
    admin2: str = "name"
    surname_upper: bool = False
    names_upper: bool = False
    amount_as_text: bool = False  # parquet only: amounts as text, as some exports do


STYLES: dict[str, Style] = {
    "civil_registry": Style(file_name="{event}s_{drop}", admin1="code", admin2="mixed", surname_upper=True),
    "tax_registry": Style(
        file_name="tpin_register_{drop}",
        nid_format="dashed",
        phone_formats=("intl_plus_spaced", "local"),
        admin1="upper",
        surname_upper=True,
    ),
    "disability_registry": Style(
        file_name="assessments_{drop}", nid_format="spaced", admin1="upper", admin2="code"
    ),
    "old_age_pension": Style(
        record_prefix="OAP",
        record_digits=7,
        file_name="oap_payroll_{period}",
        phone_formats=("local", "local_spaced", "national"),
        admin1="mixed",
        admin2="name",
        surname_upper=True,
    ),
    "child_grant": Style(
        record_prefix="CG",
        record_digits=8,
        file_name="child_grant_{year}_{month}",
        admin1="code",
        admin2="code",
        amount_as_text=True,
    ),
    "disability_allowance": Style(
        record_prefix="DA-",
        record_digits=6,
        file_name="DA_PAYLIST_{month}{year}",
        nid_format="dashed",
        admin1="ascii",
        admin2="code",
    ),
    "public_works": Style(
        record_prefix="PW",
        record_digits=7,
        file_name="pw_wages_{period}",
        phone_formats=("intl", "intl_plus"),
        admin2="lower",
        names_upper=True,
    ),
    "cash_transfer": Style(
        record_prefix="CT",
        record_digits=8,
        file_name="ct_payments_{period}",
        nid_format="spaced",
        phone_formats=("local", "dashed", "intl_plus"),
        admin1="upper",
        admin2="name",
    ),
}


@dataclass(frozen=True)
class DropFile:
    """One file of one night's drop, in canonical fields, before rendering."""

    source: str
    night: Night
    name: str  # file name without extension
    frame: pl.DataFrame  # _record_id, _person, canonical fields, extra columns (EXTRA prefix)


@dataclass(frozen=True)
class Context:
    """Everything a builder reads."""

    pop: Population
    names: NameBank
    geo: Gazetteer
    sim: Simulation
    seed: int


def file_name(style: Style, source: str, night: Night, event: str = "") -> str:
    p = night.period_start
    return style.file_name.format(
        source=source,
        drop=night.drop_date.strftime("%Y%m%d"),
        period=f"{p.year:04d}{p.month:02d}",
        month=f"{p.month:02d}",
        year=f"{p.year:04d}",
        event=event,
    )


def dates(days: np.ndarray) -> pl.Series:
    """Day numbers as a polars Date series; ``NO_DATE`` becomes null."""
    missing = days == NO_DATE
    series = pl.Series(np.where(missing, 0, days).astype(np.int32)).cast(pl.Date)
    return pl.select(pl.when(pl.Series(~missing)).then(series)).to_series()


def format_national_id(s: pl.Series, style: str) -> pl.Series:
    if style == "plain":
        return s
    if style == "dashed":
        return pl.select(s.str.slice(0, 6) + "-" + s.str.slice(6, 3) + "-" + s.str.slice(9)).to_series()
    if style == "spaced":
        return pl.select(s.str.slice(0, 5) + " " + s.str.slice(5)).to_series()
    raise ValueError(f"national id format {style!r} unknown; allowed: plain, dashed, spaced")


PHONE_FORMATS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "national": lambda s: s,
    "local": lambda s: "0" + s,
    "local_spaced": lambda s: "0" + s.str.slice(0, 2) + " " + s.str.slice(2, 3) + " " + s.str.slice(5),
    "dashed": lambda s: "0" + s.str.slice(0, 2) + "-" + s.str.slice(2, 3) + "-" + s.str.slice(5),
    "intl": lambda s: "260" + s,
    "intl_plus": lambda s: "+260" + s,
    "intl_plus_spaced": lambda s: (
        "+260 " + s.str.slice(0, 2) + " " + s.str.slice(2, 3) + " " + s.str.slice(5)
    ),
}


def format_phone(s: pl.Series, formats: tuple[str, ...], rng: np.random.Generator) -> pl.Series:
    """Each phone in one of the source's formats (the source is not consistent either)."""
    choice = rng.integers(0, len(formats), len(s))
    frame = pl.DataFrame({"s": s, "f": choice})
    expr: pl.Expr = PHONE_FORMATS[formats[0]](pl.col("s"))
    for i, fmt in enumerate(formats[1:], start=1):
        expr = pl.when(pl.col("f") == i).then(PHONE_FORMATS[fmt](pl.col("s"))).otherwise(expr)
    return frame.select(expr).to_series()


def _names(
    ctx: Context,
    contract: Contract,
    style: Style,
    rates: NoiseRates,
    person: np.ndarray,
    rng: np.random.Generator,
    married_share: float,
) -> dict[str, pl.Series]:
    """Name fields with the source's conventions and noise."""
    pop, names = ctx.pop, ctx.names
    n = person.size
    use_current = ~pop.married_name[person] | (rng.random(n) < married_share)
    surname = np.where(use_current, pop.surname_current[person], pop.surname_birth[person])
    g1 = pop.given1[person]
    g2 = pop.given2[person]
    has_middle = pl.Series(g2 >= 0)
    g2 = np.maximum(g2, 0)

    first = names.given.gather(g1)
    first = substitute(first, rng, rates.phonetic, names.given_phonetic, g1)
    first = substitute(first, rng, rates.nickname, names.given_short, g1)
    middle = substitute(names.given.gather(g2), rng, rates.phonetic, names.given_phonetic, g2)
    middle = pl.select(pl.when(has_middle).then(middle)).to_series()
    middle = blank(middle, rng, rates.middle_missing)
    last = substitute(names.surnames.gather(surname), rng, rates.phonetic, names.surname_phonetic, surname)
    first, middle, last = (typos(s, rng, rates.typo) for s in (first, middle, last))
    first, middle, last = (drop_accents(s, rng, rates.accent_drop) for s in (first, middle, last))
    first, last = swap(first, last, rng, rates.name_swap)
    if style.names_upper:
        first, middle, last = first.str.to_uppercase(), middle.str.to_uppercase(), last.str.to_uppercase()
    elif style.surname_upper:
        last = last.str.to_uppercase()
    first, middle, last = (case_noise(s, rng, rates.case) for s in (first, middle, last))

    out: dict[str, pl.Series] = {}
    if "full_name" in contract.columns:
        given = pl.select(pl.concat_str([first, middle], separator=" ", ignore_nulls=True)).to_series()
        if contract.full_name_order == "surname_first":
            full = pl.select(last + ", " + given).to_series()
        else:
            full = pl.select(given + " " + last).to_series()
        out["full_name"] = whitespace_noise(full, rng, rates.whitespace)
    for field, series in (("first_name", first), ("middle_name", middle), ("last_name", last)):
        if field in contract.columns:
            out[field] = whitespace_noise(series, rng, rates.whitespace)
    return out


def person_fields(
    ctx: Context,
    contract: Contract,
    style: Style,
    rates: NoiseRates,
    person: np.ndarray,
    rng: np.random.Generator,
    married_share: float | None = None,
) -> pl.DataFrame:
    """The canonical person fields the contract maps, one row per element of ``person``.

    Required fields are never emptied by noise: an empty required field is a planted
    bad row (``synthetic.writer``), recorded in the truth, never an accident.
    """
    pop, geo = ctx.pop, ctx.geo
    wants = set(contract.columns)
    required = set(contract.required)
    share = rates.married_surname if married_share is None else married_share
    out = _names(ctx, contract, style, rates, person, rng, share)
    household = pop.household[person]
    admin2 = pop.hh_admin2[household]
    locality = pop.hh_locality[household]

    if "date_of_birth" in wants:
        if "date_of_birth" in required:
            rates = replace(rates, dob_missing=0.0)
        days, precision = dob_noise(pop.dob[person], rng, rates)
        out["date_of_birth"] = dates(days)
        out["_dob_precision"] = pl.Series(precision)
    if "sex" in wants:
        female = pop.female[person].copy()
        flip = pick(rng, person.size, rates.sex_error)
        female[flip] = ~female[flip]
        out["sex"] = pl.Series(np.where(female, "F", "M"))
    if "national_id" in wants:
        nid = blank(pop.national_id.gather(person), rng, rates.nid_missing)
        out["national_id"] = format_national_id(
            mistype_digits(nid, rng, rates.nid_mistyped), style.nid_format
        )
    if "phone" in wants:
        phone = blank(pop.phone.gather(person), rng, rates.phone_missing)
        out["phone"] = format_phone(phone, style.phone_formats, rng)
    if "civil_registration_number" in wants:
        out["civil_registration_number"] = blank(pop.birth_reg_no.gather(person), rng, rates.nid_missing / 2)
    if "tax_number" in wants:
        out["tax_number"] = pop.tax_number.gather(person)
    if "admin1" in wants:
        a1 = geo.admin2_admin1[admin2]
        out["admin1"] = area_labels(geo.admin1_code, geo.admin1_name, a1, style.admin1, rng)
    if "admin2" in wants:
        out["admin2"] = area_labels(geo.admin2_code, geo.admin2_name, admin2, style.admin2, rng)
    if rates.accent_drop >= 1.0:  # an ASCII-only system drops accents from places too
        for field in ("admin1", "admin2"):
            if field in out:
                out[field] = drop_accents(out[field], rng, 1.0)
    if "locality" in wants:
        out["locality"] = case_noise(geo.locality_name.gather(locality), rng, 0.1)
    if "address_line" in wants:
        out["address_line"] = whitespace_noise(pop.hh_address.gather(household), rng, 0.05)
    if "postcode" in wants:
        out["postcode"] = blank(geo.locality_postcode.gather(locality), rng, 0.2)
    if "household_id" in wants:
        codes = prefixed_codes(
            stream(ctx.seed, "source", contract.name, "households"), pop.households, "HH", 7
        )
        out["household_id"] = codes.gather(household)
    if "relationship_to_head" in wants:
        labels = pl.Series(["HEAD", "SPOUSE", "CHILD", "GRANDCHILD", "PARENT", "OTHER RELATIVE"])
        assert len(labels) == len(RELATIONSHIPS)
        out["relationship_to_head"] = labels.gather(pop.relationship[person].astype(np.int64))
    return pl.DataFrame(out)


def _frame(record_id: pl.Series, person: np.ndarray, fields: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"_record_id": record_id, "_person": person.astype(np.int64)}).hstack(fields)


def build_civil_registry(ctx: Context, contract: Contract, style: Style, rates: NoiseRates) -> list[DropFile]:
    """Birth and death registrations; a delta source.

    Night 0 holds every birth registered so far and the deaths of the past year;
    later nights the month's registrations, plus a few corrections: a record sent
    earlier is sent again, same ``reg_no``, with its mistakes put right.
    """
    pop, nights = ctx.pop, ctx.pop.nights
    k = len(nights)
    rng = stream(ctx.seed, "source", contract.name, "noise")
    born = np.flatnonzero(night_of(pop.birth_reg_day, nights) < k)
    died = np.flatnonzero(night_of(pop.death_reg_day, nights) < k)
    death_rates = replace(rates, dob_year_only=max(rates.dob_year_only, 0.08))

    def records(person: np.ndarray, event: str, record_id: pl.Series, r: NoiseRates) -> pl.DataFrame:
        g = np.random.default_rng(rng.integers(0, 2**63))
        fields = person_fields(
            ctx, contract, style, r, person, g, married_share=0.0 if event == "birth" else 1.0
        )
        if event == "birth":
            # a birth record's own number is the person's birth registration number
            fields = fields.with_columns(civil_registration_number=record_id)
            reg_day = pop.birth_reg_day[person]
            dod = np.full(person.size, NO_DATE)
        else:
            reg_day = pop.death_reg_day[person]
            dod = pop.dod[person]
        return _frame(record_id, person, fields).with_columns(
            event_type=pl.lit(event),
            date_of_death=dates(dod),
            night=pl.Series(night_of(reg_day, nights)),
            **{EXTRA + "registration_date": dates(reg_day)},
        )

    death_ids = prefixed_codes(stream(ctx.seed, "source", contract.name, "death-numbers"), died.size, "DR", 8)
    births = records(born, "birth", pop.birth_reg_no.gather(born), rates)
    deaths = records(died, "death", death_ids, death_rates)

    # corrections: re-send, clean, a few records that went out with a mistake
    clean = replace(rates, **{f: 0.0 for f in rates.__dataclass_fields__ if f != "married_surname"})
    drops: list[DropFile] = []
    for night in nights:
        for event, table in (("birth", births), ("death", deaths)):
            part = table.filter(pl.col("night") == night.index)
            if night.index > 0:
                earlier = table.filter(pl.col("night") < night.index)
                count = max(2, round(0.001 * earlier.height)) if earlier.height else 0
                if count:
                    sample = earlier.sample(min(earlier.height, 4 * count), seed=int(rng.integers(0, 2**31)))
                    fixed = records(sample["_person"].to_numpy(), event, sample["_record_id"], clean)
                    changed = (
                        (fixed["last_name"] != sample["last_name"])
                        | (fixed["first_name"] != sample["first_name"])
                        | (fixed["date_of_birth"] != sample["date_of_birth"])
                    ).fill_null(True)
                    fixed = (
                        fixed.filter(changed).head(count).with_columns(night=pl.lit(night.index, pl.Int16))
                    )
                    part = pl.concat([part, fixed.select(part.columns)])
            drops.append(
                DropFile(
                    contract.name, night, file_name(style, contract.name, night, event), part.drop("night")
                )
            )
    return drops


def build_tax_registry(ctx: Context, contract: Contract, style: Style, rates: NoiseRates) -> list[DropFile]:
    """The income tax register; a snapshot of the latest tax year's declarations."""
    pop, nights = ctx.pop, ctx.pop.nights
    rng = stream(ctx.seed, "source", contract.name, "noise")
    filer = np.flatnonzero(pop.tax_filing_night >= 0)
    fields = person_fields(ctx, contract, style, rates, filer, rng)
    master = _frame(pop.tax_number.gather(filer), filer, fields)
    drops = []
    for night in nights:
        present = pop.tax_filing_night[filer] <= night.index
        frame = master.filter(pl.Series(present)).with_columns(
            tax_year=pl.lit(pop.tax_year_by_night[night.index], pl.Int32),
            income_annual=pl.Series(pop.income_by_night[night.index][filer[present]]),
        )
        drops.append(DropFile(contract.name, night, file_name(style, contract.name, night), frame))
    return drops


def build_disability_registry(
    ctx: Context, contract: Contract, style: Style, rates: NoiseRates
) -> list[DropFile]:
    """Disability assessments; a delta source (each assessment sent once)."""
    pop, nights = ctx.pop, ctx.pop.nights
    rng = stream(ctx.seed, "source", contract.name, "noise")
    table = pop.assessments.filter(pl.col("night") < len(nights))
    person = table["person"].to_numpy()
    fields = person_fields(ctx, contract, style, rates, person, rng)
    kind = pl.Series(rng.integers(0, 3, table.height))
    dtype = table["disability_type"]
    written_type = pl.select(
        pl.when(kind == 0)
        .then(dtype.str.to_uppercase())
        .when(kind == 1)
        .then(dtype.str.to_titlecase())
        .otherwise(dtype)
    ).to_series()
    master = _frame(table["assessment_no"], person, fields).with_columns(
        disability_type=written_type,
        disability_severity=pl.Series(SEVERITIES).gather(table["severity"].cast(pl.Int64) - 1),
        assessment_date=dates(table["assessment_day"].to_numpy()),
        night=table["night"],
    )
    return [
        DropFile(
            contract.name,
            night,
            file_name(style, contract.name, night),
            master.filter(pl.col("night") == night.index).drop("night"),
        )
        for night in nights
    ]


def build_programme(ctx: Context, contract: Contract, style: Style, rates: NoiseRates) -> list[DropFile]:
    """A programme's monthly payroll; a snapshot source.

    Every (person, copy) ever enrolled gets one record id, kept across nights; copy 1
    is a planted second enrolment of the same person, with its own record id and its
    own mistakes.
    """
    pop, nights, sim = ctx.pop, ctx.pop.nights, ctx.sim
    pid = contract.programme_id
    keys = sim.enrolment_day.filter(pl.col("programme_id") == pid)
    person = keys["person"].to_numpy()
    record_ids = prefixed_codes(
        stream(ctx.seed, "source", contract.name, "record-ids"),
        keys.height,
        style.record_prefix,
        style.record_digits,
    )
    rng = stream(ctx.seed, "source", contract.name, "noise")
    fields = person_fields(ctx, contract, style, rates, person, rng)
    master = _frame(record_ids, person, fields).with_columns(
        copy=keys["copy"], enrolment_date=dates(keys["enrolment_day"].to_numpy())
    )
    if contract.name == "child_grant":  # who collects the grant for the child
        carer = pop.hh_caregiver[pop.household[person]]
        carer_fields = person_fields(
            ctx,
            replace(contract, columns={"full_name": "", "national_id": ""}, required=()),
            replace(style, nid_format="plain"),
            rates,
            carer,
            rng,
        )
        master = master.with_columns(
            **{
                EXTRA + "CAREGIVER_NAME": carer_fields["full_name"],
                EXTRA + "CAREGIVER_NRC": carer_fields["national_id"],
            }
        )
    payroll = sim.payroll.filter(pl.col("programme_id") == pid)
    statuses = pl.Series(STATUSES)
    drops = []
    for night in nights:
        rows = (
            payroll.filter(pl.col("night") == night.index)
            .select(pl.col("person").alias("_person"), "copy", "status", "amount")
            .join(master, on=["_person", "copy"], how="left")
            .sort("_record_id")
        )
        frame = rows.with_columns(
            period=pl.lit(night.period_start, pl.Date),
            enrolment_status=statuses.gather(rows["status"].cast(pl.Int64)),
            benefit_amount=pl.col("amount"),
        ).drop("copy", "status", "amount")
        if contract.name == "public_works":  # the wage is the days worked times the daily rate
            frame = frame.with_columns(
                **{EXTRA + "DAYS_WORKED": (pl.col("benefit_amount") / 25).round(0).cast(pl.Int32)}
            )
        drops.append(DropFile(contract.name, night, file_name(style, contract.name, night), frame))
    return drops


BUILDERS: dict[str, Callable[[Context, Contract, Style, NoiseRates], list[DropFile]]] = {
    "civil_registry": build_civil_registry,
    "tax_registry": build_tax_registry,
    "disability_registry": build_disability_registry,
    "programme": build_programme,
}
