"""Statements and the income statement as CSV and PDF (reportlab). Pure functions of the statement
(a dict, or the ``IncomeStatement`` record): no database."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ledger.core.economics import Figures
from ledger.core.money import display, fmt
from ledger.read.income import IncomeStatement

KIND_LABELS = {
    "origination": "Origination", "practice": "Practice share", "pool": "Common pool",
    "draw": "Draw", "buyout": "Buyout", "goodwill": "Goodwill", "adjustment": "Adjustment",
}


def statement_csv(st: dict) -> str:
    """A row per line (kind, amount, engagement, practice, entry), then opening, allocated, draws,
    closing rows, as CONTRACT §3 says."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["kind", "amount", "engagement", "practice", "entry"])
    for line in st["lines"]:
        w.writerow([line["kind"], line["amount"], line.get("engagement", ""), line.get("practice", ""), line["entry"]])
    for key in ("opening", "allocated", "draws", "closing"):
        w.writerow([key, st[key], "", "", ""])
    if Decimal(st.get("unattributed") or 0):  # the period's total; the pool lines carry each partner's part
        w.writerow(["unattributed", st["unattributed"], "", "", ""])
    return out.getvalue()


DOWNLOADS = {"csv": "text/csv", "pdf": "application/pdf"}


def statement_file(st: dict, fmt: str) -> tuple[str | bytes, str, str]:
    """A statement as a download: ``(body, mimetype, filename)`` for ``fmt`` ``csv`` or ``pdf``."""
    body = statement_csv(st) if fmt == "csv" else statement_pdf(st)
    return body, DOWNLOADS[fmt], f"statement-{st['partner']}-{st['period']}.{fmt}"


def income_file(st: IncomeStatement, fmt: str) -> tuple[str | bytes, str, str]:
    """An income statement as a download: ``(body, mimetype, filename)`` for ``fmt`` ``csv`` or ``pdf``."""
    body = income_csv(st) if fmt == "csv" else income_pdf(st)
    return body, DOWNLOADS[fmt], f"income-{st.first}-{st.last}-by-{st.by}.{fmt}"


def policy_footnotes(st: dict) -> list[str]:
    """A sentence per policy version the statement's allocation lines were closed under, naming the
    vote that made it (CONTRACT §8): the PDF's footnotes."""
    out = []
    for p in st.get("policies", []):
        basis = "by vested units" if p["pool_basis"] == "vested_units" else "equally"
        why = (f"adopted by proposal #{p['proposal']} ({escape(p['proposal_title'] or '')})" if p["proposal"]
               else "the charter's own policy")
        out.append(f"Policy version {p['version']}: origination {p['origination']}, practice {p['practice']}, "
                   f"pool {p['pool']} {basis}, from {p['effective_period']}; {why}.")
    return out


def statement_pdf(st: dict) -> bytes:
    """A one-document share statement a partner would be glad to receive."""

    def money(text: str) -> str:
        return display(Decimal(text), st["currency"], brackets=True)

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                            topMargin=18 * mm, bottomMargin=18 * mm,
                            title=f"Share statement {st['partner']} {st['period']}", author=st["partnership"])
    styles = getSampleStyleSheet()
    story = [
        Paragraph(st["partnership"], styles["Title"]),
        Paragraph(f"Share statement — {st['name']} ({st['partner']}) — period {st['period']}", styles["Heading2"]),
        Paragraph(f"Amounts in {st['currency']}. Each line names the ledger entry it comes from; "
                  "negative amounts are shown in brackets.", styles["Normal"]),
        Spacer(1, 6 * mm),
    ]
    rows = [["Line", "Engagement", "Practice", "Entry", "Amount"], ["Opening capital", "", "", "", money(st["opening"])]]
    for line in st["lines"]:
        label = KIND_LABELS.get(line["kind"], line["kind"])
        rows.append([f"{label} (policy v{line['policy_version']})" if line.get("policy_version") else label,
                     line.get("engagement", ""),
                     line.get("practice", ""), f"#{line['entry']}", money(line["amount"])])
    rows += [
        ["Allocated (origination + practice + pool)", "", "", "", money(st["allocated"])],
        ["Draws", "", "", "", money(st["draws"])],
        ["Closing capital", "", "", "", money(st["closing"])],
    ]
    table = Table(rows, colWidths=[62 * mm, 35 * mm, 25 * mm, 20 * mm, 30 * mm], repeatRows=1)
    n = len(rows)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f3a5f")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("ALIGN", (-1, 0), (-1, -1), "RIGHT"),
        ("ROWBACKGROUNDS", (0, 2), (-1, n - 4), [colors.white, colors.HexColor("#f2f5f9")]),
        ("LINEABOVE", (0, n - 3), (-1, n - 3), 0.8, colors.HexColor("#1f3a5f")),
        ("FONT", (0, n - 1), (-1, n - 1), "Helvetica-Bold"),
        ("FONT", (0, 1), (-1, 1), "Helvetica-Bold"),
        ("LINEABOVE", (0, n - 1), (-1, n - 1), 1.2, colors.black),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]))
    story.append(table)
    story.append(Spacer(1, 6 * mm))
    if st.get("unattributed") and Decimal(st["unattributed"]):
        story.append(Paragraph(f"Income and costs that named no engagement (unattributed) came to "
                               f"{money(st['unattributed'])} in the period: they joined the common pool, and "
                               "the pool lines above carry this partner's part.", styles["Normal"]))
    for note in st.get("notes", []):
        story.append(Paragraph(note, styles["Normal"]))
    for line in policy_footnotes(st):
        story.append(Paragraph(line, styles["Normal"]))
    units = st.get("units", {})
    story.append(Paragraph(f"Units at the end of the period: {units.get('vested', 0):,} vested, "
                           f"{units.get('unvested', 0):,} unvested.", styles["Normal"]))
    if st.get("installments"):
        story.append(Spacer(1, 4 * mm))
        story.append(Paragraph("Buyout installments", styles["Heading3"]))
        inst = [["Date", "Entry", "Amount"]] + [[i["date"], f"#{i['entry']}", money(i["amount"])] for i in st["installments"]]
        story.append(Table(inst, colWidths=[40 * mm, 30 * mm, 40 * mm]))
    doc.build(story)
    return buf.getvalue()


# --- the income statement (CONTRACT §10) --------------------------------------------------------

GROUP_LABELS = {"practice": "Practice", "firm": "Firm", "period": "Period"}


def _figures(f: Figures, currency: str) -> dict:
    return {"revenue": fmt(f.revenue, currency), "direct_costs": fmt(f.direct_costs, currency),
            "subcontract": fmt(f.subcontract, currency), "margin": fmt(f.margin, currency),
            "margin_pct": f.margin_pct, "subcontract_share": f.subcontract_share}


def income_json(st: IncomeStatement) -> dict:
    """The statement as the API answers it: amounts and ratios as strings."""
    c = st.currency
    rows = []
    for row in st.rows:
        out = {"key": row.key, "name": row.name, **_figures(row.figures, c)}
        if row.provisional is not None:
            out["provisional"] = row.provisional
        rows.append(out)
    totals = {**_figures(st.totals, c), "overhead": fmt(st.overhead, c), "unattributed": fmt(st.unattributed, c),
              "net_income": fmt(st.net_income, c), "allocated": fmt(st.allocated, c)}
    return {"from": st.first, "to": st.last, "by": st.by, "currency": c,
            "periods": [{"id": pid, "status": status} for pid, status in st.periods],
            "provisional": st.provisional, "rows": rows, "totals": totals}


INCOME_COLUMNS = ["key", "revenue", "direct_costs", "subcontract", "margin", "margin_pct", "subcontract_share"]


def income_csv(st: IncomeStatement) -> str:
    """A row per practice, firm or period (``key`` and the figures), then a ``total`` row and one row
    each for overhead, unattributed, net income and allocated."""
    data = income_json(st)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(INCOME_COLUMNS + ["provisional"])
    for row in data["rows"]:
        w.writerow([row[k] if row[k] is not None else "" for k in INCOME_COLUMNS]
                   + [{True: "yes", False: "no"}.get(row.get("provisional"), "")])
    totals = data["totals"]
    w.writerow(["total"] + [totals[k] if totals[k] is not None else "" for k in INCOME_COLUMNS[1:]]
               + ["yes" if st.provisional else "no"])
    for key in ("overhead", "unattributed", "net_income", "allocated"):
        w.writerow([key, totals[key]] + [""] * (len(INCOME_COLUMNS) - 1))
    return out.getvalue()


def _pct(text: str | None) -> str:
    return "—" if text is None else f"{Decimal(text) * 100:.1f}%"


def income_pdf(st: IncomeStatement) -> bytes:
    """The income statement as a document, in the share statements' style."""
    c = st.currency

    def money(amount: Decimal) -> str:
        return display(amount, c, brackets=True)

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm,
                            topMargin=18 * mm, bottomMargin=18 * mm,
                            title=f"Income statement {st.first} to {st.last}", author=st.partnership)
    styles = getSampleStyleSheet()
    span = st.first if st.first == st.last else f"{st.first} to {st.last}"
    story = [
        Paragraph(escape(st.partnership), styles["Title"]),
        Paragraph(f"Income statement — {span} — by {st.by}", styles["Heading2"]),
        Paragraph(f"Amounts in {c}; negative amounts are shown in brackets. Margin = revenue − direct costs; "
                  "subcontract share = subcontract / direct costs.", styles["Normal"]),
        Spacer(1, 6 * mm),
    ]
    rows = [[GROUP_LABELS[st.by], "Revenue", "Direct costs", "Subcontract", "Margin", "Margin %", "Subc. share"]]
    for row in st.rows:
        f = row.figures
        label = escape(row.name if st.by != "period" else row.key) + (" (provisional)" if row.provisional else "")
        rows.append([Paragraph(label, styles["Normal"]), money(f.revenue), money(f.direct_costs), money(f.subcontract),
                     money(f.margin), _pct(f.margin_pct), _pct(f.subcontract_share)])
    t = st.totals
    rows.append(["Total", money(t.revenue), money(t.direct_costs), money(t.subcontract), money(t.margin),
                 _pct(t.margin_pct), _pct(t.subcontract_share)])
    table = Table(rows, colWidths=[44 * mm, 24 * mm, 24 * mm, 24 * mm, 24 * mm, 20 * mm, 22 * mm], repeatRows=1)
    n = len(rows)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f3a5f")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("ROWBACKGROUNDS", (0, 1), (-1, n - 2), [colors.white, colors.HexColor("#f2f5f9")]),
        ("FONT", (0, n - 1), (-1, n - 1), "Helvetica-Bold"),
        ("LINEABOVE", (0, n - 1), (-1, n - 1), 1.2, colors.black),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]))
    story += [table, Spacer(1, 6 * mm)]
    summary = [["Margin", money(t.margin)], ["Overhead", money(-st.overhead)],
               ["Unattributed income and costs", money(st.unattributed)], ["Net income", money(st.net_income)],
               ["Allocated to partners by the closes", money(st.allocated)]]
    s = Table(summary, colWidths=[80 * mm, 40 * mm])
    s.setStyle(TableStyle([("ALIGN", (1, 0), (1, -1), "RIGHT"), ("FONT", (0, 3), (-1, 3), "Helvetica-Bold"),
                           ("LINEABOVE", (0, 3), (-1, 3), 0.8, colors.HexColor("#1f3a5f"))]))
    story.append(s)
    if st.provisional:
        story += [Spacer(1, 4 * mm), Paragraph(
            f"Provisional: {', '.join(st.provisional)} {'is' if len(st.provisional) == 1 else 'are'} still open, "
            "so their figures may change and nothing of them is allocated yet.", styles["Normal"])]
    doc.build(story)
    return buf.getvalue()
