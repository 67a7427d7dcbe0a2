"""Small documents the parsing tests build themselves (no binary fixtures in the repo)."""

from __future__ import annotations

import io
import json
import zipfile

RETURNS_TEXT = (
    "Customers can return any unused item within thirty days of delivery for a full refund.",
    "Refunds are issued to the original payment method within five business days.",
)
SHIPPING_TEXT = (
    "Standard shipping takes three to five business days within the country.",
    "Express shipping arrives the next business day when you order before noon.",
)
WARRANTY_TEXT = (
    "Every device is covered by a two year warranty against manufacturing defects.",
    "The warranty does not cover damage caused by accidents or water.",
)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[tuple[float, float, float, str]]]) -> bytes:
    """A minimal valid PDF: each page is a list of (x, y, font size, text) lines in Helvetica."""
    objects: list[bytes] = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", b""]
    font_id, pages_id = 1, 2
    kids = []
    for lines in pages:
        ops = [f"BT /F1 {size} Tf {x} {y} Td ({_escape(text)}) Tj ET" for x, y, size, text in lines]
        stream = "\n".join(ops).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
            % (pages_id, font_id, content_id)
        )
        kids.append(len(objects))
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    catalog_id = len(objects)

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog_id,
        xref,
    )
    return bytes(out)


def _page(
    heading: str | None, paragraphs: tuple[str, ...]
) -> list[tuple[float, float, float, str]]:
    lines: list[tuple[float, float, float, str]] = []
    y = 720.0
    if heading:
        lines.append((72, y, 20, heading))
        y -= 60
    for paragraph in paragraphs:
        lines.append((72, y, 11, paragraph))
        y -= 40
    return lines


def help_center_pdf() -> bytes:
    """Three pages: two with a heading, the third continuing the second's section."""
    return make_pdf(
        [
            _page("Returns Policy", RETURNS_TEXT),
            _page("Shipping Times", SHIPPING_TEXT),
            _page(None, WARRANTY_TEXT),
        ]
    )


def encrypt_pdf(data: bytes, user_password: str, algorithm: str = "AES-256") -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def help_center_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Account Help", level=1)
    document.add_paragraph("You can change your email address from the profile page at any time.")
    document.add_heading("Passwords", level=2)
    document.add_paragraph("Reset your password with the link on the sign in page.")
    document.add_paragraph("Open the settings page", style="List Bullet")
    document.add_paragraph("Click the reset button", style="List Bullet")
    document.add_heading("Billing", level=1)
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Plan", (0, 1): "Price", (1, 0): "Pro", (1, 1): "20"}.items():
        table.cell(row, col).text = text
    document.add_paragraph("Invoices are emailed every month to the account owner.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def empty_docx() -> bytes:
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    return buffer.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


HELP_CENTER_HTML = """<!DOCTYPE html>
<html><head><title>Help</title><meta charset="utf-8"></head>
<body>
<h1>Help Center</h1>
<p>Welcome to the help center, where all account questions are answered.</p>
<h2>Billing</h2>
<p>We bill your card on the first day of each month.</p>
<ul><li>Visa cards are accepted</li><li>Mastercard cards are accepted</li></ul>
<table><tr><th>Plan</th><th>Price</th></tr><tr><td>Basic</td><td>10 EUR</td></tr></table>
<h3>Refunds</h3>
<p>Refunds take five business days to reach your account.</p>
</body></html>
"""

HELP_CENTER_MD = """# Getting Started

This guide explains how to set up your account and invite your team.

## Installation

1. Download the desktop app
2. Sign in with your work email

## Troubleshooting

If the app does not start, restart your computer and try again.
"""

FAQ_ITEMS = [
    {"question": "How do I reset my password?", "answer": "Use the link on the sign in page."},
    {"question": "Can I change my plan?", "answer": "Yes, from the billing page at any time."},
]
FAQ_JSON = json.dumps(FAQ_ITEMS).encode()
FAQ_CSV = (
    b"Question,Answer,Category\n"
    b'"How do I reset my password?","Use the link on the sign in page.",account\n'
    b'"Can I change my plan?","Yes, from the billing page, at any time.",billing\n'
)
