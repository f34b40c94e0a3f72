"""Generate the sample CSV exports in ``data/samples/`` (customers and three daily order files).

The output is deterministic (fixed seed, fixed dates): running the script again rewrites the same
bytes. Besides the CSVs it writes ``expected.json`` (what the contract enforcement should do with
every file: rows read, valid, quarantined with the reason per line, exact duplicates dropped) and
``README.md`` (the same listing for people). Every bad row breaks exactly one rule, so each has
one expected reason; a self-check re-reads the rows against the contracts in
``contracts/datasets/`` and refuses to write anything if a planted row and the rules disagree.

Run from the repository root::

    .venv/bin/python data/samples/generate.py            # rewrite data/samples/
    .venv/bin/python data/samples/generate.py --out DIR  # write elsewhere (e.g. to compare)
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from samples_check import NULL_VALUES, check_rows

from contracts.loader import load_contract

HERE = Path(__file__).resolve().parent
CONTRACTS = HERE.parents[1] / "contracts" / "datasets"
SEED = 20261101
EXPORT_DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
CUSTOMER_IDS = range(1001, 1210)
NEW_ORDERS_PER_DAY = [301, 281, 283]
UPDATES_PER_DAY = [0, 20, 20]
STATUS_WEIGHTS = {
    "placed": 15,
    "paid": 25,
    "shipped": 25,
    "delivered": 25,
    "cancelled": 7,
    "returned": 3,
}
# Next status of an order re-exported the day after; cancelled and returned are final.
NEXT_STATUS = {"placed": "paid", "paid": "shipped", "shipped": "delivered", "delivered": "returned"}

NAMES = {
    "DE": (
        ["Anna", "Lukas", "Jürgen", "Sophie", "Maximilian", "Lea"],
        ["Müller", "Schmidt", "Weber", "Groß"],
    ),
    "FR": (
        ["Chloé", "Louis", "Hélène", "Théo", "Camille"],
        ["Martin", "Lefèvre", "Dubois", "Moreau"],
    ),
    "GB": (["Oliver", "Amelia", "Harry", "Isla", "George"], ["Smith", "Jones", "Taylor", "Brown"]),
    "IE": (["Siobhán", "Seán", "Aoife", "Ciarán"], ["O'Brien", "Murphy", "Kelly", "Byrne"]),
    "NL": (["Daan", "Emma", "Sem", "Julia"], ["de Jong", "Jansen", "van Dijk", "Bakker"]),
    "ES": (["Lucía", "Hugo", "Martina", "Mateo"], ["García", "Fernández", "López", "Martínez"]),
    "IT": (["Giulia", "Leonardo", "Francesca", "Lorenzo"], ["Rossi", "Russo", "Bianchi", "Romano"]),
    "US": (["Olivia", "Liam", "Ava", "Noah", "Mia"], ["Johnson", "Williams", "Miller", "Davis"]),
}
COUNTRY_WEIGHTS = {"DE": 30, "FR": 15, "GB": 15, "IE": 5, "NL": 10, "ES": 10, "IT": 8, "US": 7}
CURRENCY_BY_COUNTRY = {"GB": "GBP", "US": "USD"}
LISTING_START = "<!-- listing: written by generate.py -->"
LISTING_END = "<!-- end of listing -->"
DOMAINS = ["example.com", "example.org", "mail.example.de", "example.fr", "example.co.uk"]


@dataclass
class Entry:
    """One data row of a file and what the enforcement should do with it."""

    row: dict[str, str]
    reason: str | None = None  # None: valid (or an exact duplicate, see ``duplicate``)
    note: str = ""
    duplicate: bool = False


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == ".")


def _customer(rng: random.Random, customer_id: int) -> dict[str, str]:
    country = rng.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()))[0]
    first, last = rng.choice(NAMES[country][0]), rng.choice(NAMES[country][1])
    segment = rng.choices(["consumer", "smb", "enterprise"], weights=[60, 30, 10])[0]
    limit_range = {
        "consumer": (500, 5_000),
        "smb": (5_000, 50_000),
        "enterprise": (50_000, 500_000),
    }
    low, high = limit_range[segment]
    credit_limit = f"{rng.randrange(low, high, 100)}.00"
    if segment == "consumer" and rng.random() < 0.3:
        credit_limit = rng.choice(["", "NA"])  # nullable: consumers without credit
    full_name = f"{first} {last}"
    if rng.random() < 0.03:
        full_name = "NA"  # nullable: the CRM has no name for a few accounts
    elif rng.random() < 0.03:
        full_name = f"{last}, {first}"  # a comma inside a field, quoted in the CSV
    signup = date(2019, 1, 1) + timedelta(days=rng.randrange(0, 2860))
    return {
        "customer_id": str(customer_id),
        "email": f"{_ascii(first)}.{_ascii(last)}{customer_id % 1000}@{rng.choice(DOMAINS)}",
        "full_name": full_name,
        "country": country,
        "segment": segment,
        "signup_date": signup.isoformat(),
        "credit_limit": credit_limit,
    }


# (column, bad value, reason, note): each corrupts one row of the export in place; the bad value
# is a str.format template over the row, e.g. "{order_id}/1".
Defect = tuple[str, str, str, str]
SHARED_EMAIL = "familie.weber@example.de"
CUSTOMER_DEFECTS: list[Defect] = [
    ("signup_date", "31/11/2026", "type:signup_date", "day-first date that does not exist"),
    ("credit_limit", "2500,00", "type:credit_limit", "decimal comma"),
    ("email", "", "not_null:email", "empty e-mail"),
    ("country", "NA", "not_null:country", "null token `NA` in a required column"),
    ("country", "XX", "allowed_values:country", "placeholder country code"),
    ("email", "lea.gross.example.com", "pattern:email", "e-mail without @"),
    ("credit_limit", "-500.00", "min:credit_limit", "negative credit limit"),
    ("email", SHARED_EMAIL, "unique:email", "e-mail of an earlier customer"),
    ("customer_id", "12l1", "type:customer_id", "letter l instead of digit 1"),
]
ORDER_DEFECTS: list[list[Defect]] = [
    [
        ("amount", "12,50", "type:amount", "decimal comma"),
        ("amount", "abc", "type:amount", "not a number"),
        ("ordered_at", "31/11/2026", "type:ordered_at", "day-first date that does not exist"),
        ("customer_id", "", "not_null:customer_id", "empty customer"),
        ("status", "NA", "not_null:status", "null token `NA`"),
        ("amount", "-15.00", "min:amount", "negative amount"),
        ("quantity", "0", "min:quantity", "zero items"),
        ("currency", "JPY", "allowed_values:currency", "currency outside EUR/GBP/USD"),
        ("order_id", "ORD-12", "pattern:order_id", "order number too short"),
    ],
    [
        ("quantity", "2.5", "type:quantity", "fractional quantity"),
        ("amount", "1,299.00", "type:amount", "thousands separator"),
        ("ordered_at", "", "not_null:ordered_at", "empty timestamp"),
        ("amount", "250000.00", "max:amount", "amount above 100000"),
        ("quantity", "1500", "max:quantity", "quantity above 1000"),
        ("customer_id", "0", "min:customer_id", "customer 0"),
        ("currency", "eur", "allowed_values:currency", "lower-case currency"),
        ("status", "refunded", "allowed_values:status", "status not in the contract"),
        ("order_id", "{order_id}/1", "pattern:order_id", "split-shipment suffix"),
    ],
    [
        ("amount", "NA", "not_null:amount", "null token `NA`"),
        ("amount", "12,50", "type:amount", "decimal comma"),
        ("ordered_at", "03.11.2026 14:05", "type:ordered_at", "German date format"),
        ("customer_id", "C-1042", "type:customer_id", "prefixed customer number"),
        ("currency", "", "not_null:currency", "empty currency"),
        ("quantity", "-1", "min:quantity", "negative quantity"),
        ("order_id", "ORD-1234567", "pattern:order_id", "seven digits"),
        ("currency", "JPY", "allowed_values:currency", "currency outside EUR/GBP/USD"),
        ("order_id", "NA", "not_null:order_id", "null token `NA` as order number"),
    ],
]
# The column in which the two rows of each export's duplicate key differ, and the other value.
DUPLICATE_KEY_CHANGE = [("amount", "99.90"), ("status", "cancelled"), ("quantity", "7")]
EXACT_DUPLICATES = [1, 2, 1]
NOT_EXPORTED_CUSTOMER = "1250"


def _plant(entry: Entry, defect: Defect) -> None:
    column, template, reason, note = defect
    value = template.format(**entry.row)  # a template may reuse the row's own values
    entry.row, entry.reason = {**entry.row, column: value}, reason
    shown = f"`{value}`" if value else "empty"
    entry.note = f"`{column}` {shown}: {note}"


def _second_version(entry: Entry, key: str, column: str, value: str) -> Entry:
    """A later row with the key of ``entry`` whose ``column`` differs: the first row stays valid."""
    note = f"{key} again, `{column}` {value} (first row: {entry.row[column]})"
    return Entry({**entry.row, column: value}, "duplicate_key", note)


def _exact_copies(entries: list[Entry], count: int, *, start: int) -> list[tuple[int, Entry]]:
    """``count`` valid rows, each repeated 25 rows further down (a page sent twice)."""
    valid = [i for i in range(start, len(entries) - 25) if entries[i].reason is None]
    sources = valid[::100][:count]
    return [(i + 25, Entry(dict(entries[i].row), duplicate=True)) for i in sources]


def build_customers(rng: random.Random) -> list[Entry]:
    """The CRM export, sorted by customer id, with the planted bad rows corrupted in place."""
    entries = [Entry(_customer(rng, cid)) for cid in CUSTOMER_IDS]
    planted = rng.sample(range(len(entries)), len(CUSTOMER_DEFECTS) + 1)
    for index, defect in zip(planted, CUSTOMER_DEFECTS, strict=False):
        _plant(entries[index], defect)
    # The account that first used the shared e-mail: the valid customer just before the clash.
    clash = next(i for i, d in zip(planted, CUSTOMER_DEFECTS, strict=False) if d[1] == SHARED_EMAIL)
    holder = next(entries[i] for i in range(clash - 1, -1, -1) if entries[i].reason is None)
    holder.row["email"] = SHARED_EMAIL
    entries[clash].note += f" ({holder.row['customer_id']})"
    twice = entries[planted[-1]]
    new_email = "new." + twice.row["email"]  # the export caught an e-mail change
    second = _second_version(twice, f"customer {twice.row['customer_id']}", "email", new_email)
    inserts = [(planted[-1] + 1, second), *_exact_copies(entries, 1, start=len(entries) // 2)]
    return _insert(entries, inserts)


def _order(
    rng: random.Random, order_no: int, placed: datetime, customers: dict[str, dict[str, str]]
) -> dict[str, str]:
    customer_id = rng.choice(list(customers))
    country = customers[customer_id]["country"]
    currency = CURRENCY_BY_COUNTRY.get(country, "EUR") if rng.random() < 0.9 else "EUR"
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    quantity = rng.choices(range(1, 11), weights=[30, 25, 15, 10, 6, 5, 3, 3, 2, 1])[0]
    return {
        "order_id": f"ORD-{order_no:06d}",
        "customer_id": customer_id,
        "ordered_at": placed.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "amount": f"{min(max(rng.lognormvariate(4.0, 0.8), 3.0), 5_000.0):.2f}",
        "currency": currency,
        "status": status,
        "quantity": str(quantity),
    }


def build_orders(
    rng: random.Random, customers: dict[str, dict[str, str]], *, orphans: list[str]
) -> list[list[Entry]]:
    """Three daily exports: the day's new orders plus status changes of earlier orders.

    Order numbers rise with time and each export is sorted by ``ordered_at``. Bad rows are
    corrupted in place; the second row of a duplicate key and the exact duplicates are inserted
    further down. ``orphans[i]`` is the (valid) customer of one late order of export ``i + 1``.
    """
    files: list[list[Entry]] = []
    latest: dict[str, dict[str, str]] = {}  # order_id -> latest valid version, as bronze holds it
    order_no = 100_001
    for day_index, day in enumerate(EXPORT_DAYS):
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        fresh = []
        for offset in sorted(rng.sample(range(86_400), NEW_ORDERS_PER_DAY[day_index])):
            fresh.append(_order(rng, order_no, midnight + timedelta(seconds=offset), customers))
            order_no += 1
        movable = sorted(oid for oid, row in latest.items() if row["status"] in NEXT_STATUS)
        updates = [
            {**latest[oid], "status": NEXT_STATUS[latest[oid]["status"]]}
            for oid in rng.sample(movable, UPDATES_PER_DAY[day_index])
        ]
        entries = [Entry(row) for row in sorted(updates + fresh, key=_by_time)]
        if day_index > 0:
            entries[-5].row["customer_id"] = orphans[day_index - 1]
        defects = ORDER_DEFECTS[day_index]
        fresh_ids = {row["order_id"] for row in fresh}
        new_rows = [i for i, entry in enumerate(entries) if entry.row["order_id"] in fresh_ids]
        planted = rng.sample(new_rows[:-10], len(defects) + 1)
        for index, defect in zip(planted, defects, strict=False):
            _plant(entries[index], defect)
        pair = entries[planted[-1]]
        column, value = DUPLICATE_KEY_CHANGE[day_index]
        second = _second_version(pair, pair.row["order_id"], column, value)
        inserts = [
            (planted[-1] + 9, second),
            *_exact_copies(entries, EXACT_DUPLICATES[day_index], start=60),
        ]
        files.append(_insert(entries, inserts))
        latest.update((e.row["order_id"], e.row) for e in entries if e.reason is None)
    return files


def _by_time(row: dict[str, str]) -> tuple[str, str]:
    return row["ordered_at"], row["order_id"]


def _insert(entries: list[Entry], inserts: list[tuple[int, Entry]]) -> list[Entry]:
    out = list(entries)
    for position, entry in sorted(inserts, key=lambda item: item[0], reverse=True):
        out.insert(position, entry)
    return out


def summarise(entries: list[Entry], dataset: str) -> dict[str, object]:
    """Expected enforcement outcome of one file; lines count the header as line 1."""
    first_line: dict[tuple[str, ...], int] = {}
    quarantined, duplicates = [], []
    for index, entry in enumerate(entries):
        line = index + 2
        key = tuple(entry.row.values())
        if entry.duplicate:
            duplicates.append({"line": line, "duplicate_of_line": first_line[key]})
            continue
        first_line.setdefault(key, line)
        if entry.reason:
            pk = entry.row["customer_id" if dataset == "customers" else "order_id"]
            quarantined.append(
                {"line": line, "key": pk, "reason": entry.reason, "note": entry.note}
            )
    return {
        "dataset": dataset,
        "rows_read": len(entries),
        "valid": len(entries) - len(quarantined) - len(duplicates),
        "quarantined": len(quarantined),
        "exact_duplicates": len(duplicates),
        "quarantined_rows": quarantined,
        "duplicate_rows": duplicates,
    }


def write_csv(path: Path, entries: list[Entry], header: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(entry.row for entry in entries)


def render_listing(expected: dict[str, Any]) -> str:
    """The per-file tables of README.md, from the same data as expected.json."""
    parts = []
    for name, outcome in expected["files"].items():
        parts += [
            f"### `{name}`",
            "",
            f"{outcome['rows_read']} rows read: {outcome['valid']} valid, "
            f"{outcome['quarantined']} quarantined, "
            f"{outcome['exact_duplicates']} exact duplicate(s) dropped.",
            "",
            "| line | key | reason | what is wrong |",
            "|---:|---|---|---|",
        ]
        for row in outcome["quarantined_rows"]:
            key = f"`{row['key']}`" + (" (null)" if row["key"] in NULL_VALUES else "")
            parts.append(f"| {row['line']} | {key} | `{row['reason']}` | {row['note']} |")
        for row in outcome["duplicate_rows"]:
            copy_of = row["duplicate_of_line"]
            parts.append(f"| {row['line']} | | dropped, counted | exact copy of line {copy_of} |")
        parts.append("")
    return "\n".join(parts)


def write_readme(path: Path, listing: str) -> None:
    """Replace the text between the listing markers of the hand-written README."""
    text = path.read_text(encoding="utf-8")
    if LISTING_START not in text or LISTING_END not in text:
        raise SystemExit(
            f"{path}: add the markers {LISTING_START} and {LISTING_END} around the listing"
        )
    before, rest = text.split(LISTING_START, 1)
    after = rest.split(LISTING_END, 1)[1]
    path.write_text(f"{before}{LISTING_START}\n{listing}{LISTING_END}{after}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=HERE, help="output folder (default: data/samples)"
    )
    out: Path = parser.parse_args().out
    rng = random.Random(SEED)
    customers = build_customers(rng)
    valid_customers = {e.row["customer_id"]: e.row for e in customers if e.reason is None}
    quarantined_customer = next(
        e.row["customer_id"] for e in customers if e.reason == "allowed_values:country"
    )
    orphans = [quarantined_customer, NOT_EXPORTED_CUSTOMER]
    files = {"customers.csv": ("customers", customers)}
    for day, entries in zip(
        EXPORT_DAYS, build_orders(rng, valid_customers, orphans=orphans), strict=True
    ):
        files[f"orders/orders_{day.isoformat()}.csv"] = ("orders", entries)

    expected: dict[str, Any] = {
        "null_values": list(NULL_VALUES),
        "orphan_customers": orphans,
        "files": {},
    }
    headers = {}
    for name, (dataset, entries) in files.items():
        contract = load_contract(CONTRACTS / f"{dataset}.yaml")
        headers[name] = [column.name for column in contract.columns]
        got = check_rows(contract, [entry.row for entry in entries])
        for line, (entry, reasons) in enumerate(zip(entries, got, strict=True), start=2):
            want = [entry.reason] if entry.reason else []
            if reasons != (["exact_duplicate"] if entry.duplicate else want):
                raise SystemExit(f"{name} line {line}: planted {want}, the rules say {reasons}")
        expected["files"][name] = summarise(entries, dataset)
    for name, (_, entries) in files.items():
        write_csv(out / name, entries, headers[name])
    (out / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n")
    if (out / "README.md").exists():
        write_readme(out / "README.md", render_listing(expected))
    print(f"wrote {len(files)} CSV files and expected.json to {out}")


if __name__ == "__main__":
    main()
