"""Generate the payments (HTTP push) and shipments (S3) samples, deterministically.

Run from the repo root: ``.venv/bin/python data/samples/generate_partner_samples.py``. Bad rows
planted on purpose (each documented in README.md):

payments/payments_2026-11-03.csv (40 rows): line 12 amount ``0`` (min:amount), line 19 currency
``CHF`` (allowed_values:currency), line 27 payment_id ``PAY-1`` (pattern:payment_id), line 33 an
exact repeat of line 32 (duplicate, dropped and counted).

shipments/shipments_2026-11-03.ndjson (30 rows) and shipments/shipments_2026-11-04.csv.gz
(30 rows): in the NDJSON, row 7 has carrier ``fedex`` (allowed_values:carrier) and row 15 a
weight of ``-1.5`` (min:weight_kg); in the CSV, row 4 has an ``event_at`` of ``yesterday``
(type:event_at).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _order_ids() -> list[str]:
    ids = []
    with open(HERE / "orders" / "orders_2026-11-03.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["order_id"].startswith("ORD-") and len(row["order_id"]) == 10:
                ids.append(row["order_id"])
    return ids


def payments(rng: random.Random, orders: list[str]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["payment_id", "order_id", "paid_at", "amount", "currency", "method", "payer_email"])
    start = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    rows = []
    for i in range(40):
        rows.append([
            f"PAY-{20261103 * 0 + 10_000_000 + i:08d}",
            orders[i % len(orders)],
            (start + timedelta(minutes=17 * i)).isoformat().replace("+00:00", "Z"),
            f"{rng.uniform(5, 400):.2f}",
            rng.choice(["EUR", "EUR", "EUR", "GBP", "USD"]),
            rng.choice(["card", "sepa", "paypal", "invoice"]),
            "" if i % 9 == 0 else f"payer{i}@example.com",
        ])
    rows[10][3] = "0"          # line 12: min:amount
    rows[17][4] = "CHF"        # line 19: allowed_values:currency
    rows[25][0] = "PAY-1"      # line 27: pattern:payment_id
    rows[31] = list(rows[30])  # line 33 repeats line 32: exact duplicate
    w.writerows(rows)
    return out.getvalue()


def shipments(rng: random.Random, orders: list[str], day: int, n: int) -> list[dict[str, object]]:
    start = datetime(2026, 11, day, 6, 0, tzinfo=UTC)
    rows = []
    for i in range(n):
        rows.append({
            "shipment_id": f"SHP-{day * 100_000 + i:07d}",
            "order_id": orders[(i * 7 + day) % len(orders)],
            "carrier": rng.choice(["dhl", "ups", "dpd", "royal_mail"]),
            "status": rng.choice(["label_created", "in_transit", "out_for_delivery", "delivered"]),
            "event_at": (start + timedelta(minutes=23 * i)).isoformat().replace("+00:00", "Z"),
            "weight_kg": round(rng.uniform(0.2, 25), 2),
        })
    return rows


def main() -> None:
    rng = random.Random(20261103)
    orders = _order_ids()
    (HERE / "payments").mkdir(exist_ok=True)
    (HERE / "payments" / "payments_2026-11-03.csv").write_text(payments(rng, orders))
    (HERE / "shipments").mkdir(exist_ok=True)
    nd = shipments(rng, orders, 3, 30)
    nd[6]["carrier"] = "fedex"   # allowed_values:carrier
    nd[14]["weight_kg"] = -1.5   # min:weight_kg
    (HERE / "shipments" / "shipments_2026-11-03.ndjson").write_text(
        "".join(json.dumps(r) + "\n" for r in nd))
    rows = shipments(rng, orders, 4, 30)
    rows[3]["event_at"] = "yesterday"  # type:event_at
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    # mtime=0 keeps the gzip bytes (and so the sha256) identical on every run.
    with open(HERE / "shipments" / "shipments_2026-11-04.csv.gz", "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(buf.getvalue().encode())


if __name__ == "__main__":
    main()
