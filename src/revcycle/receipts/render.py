"""Receipts as printable HTML (Jinja2, autoescaped, print CSS) and as PDF (WeasyPrint renders
the same HTML; no network access: the template has no external resources)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

from revcycle.money import Money
from revcycle.receipts.documents import ReceiptView

_env = Environment(
    loader=PackageLoader("revcycle.receipts", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)

TITLES = {"payment": "Payment receipt", "refund": "Refund receipt"}


def html(view: ReceiptView) -> str:
    def money(minor: int) -> str:
        return Money(minor, view.currency).format()

    return _env.get_template("receipt.html").render(r=view, title=TITLES[view.kind], money=money)


def _no_fetch(url: str, *_args: object, **_kwargs: object) -> dict[str, object]:
    raise ValueError(f"receipts load no external resources ({url[:40]})")


def pdf(page: str) -> bytes:
    """The PDF of a rendered receipt page (:func:`html`)."""
    import weasyprint  # imported on use: it loads Pango, which only this needs

    document = weasyprint.HTML(string=page, url_fetcher=_no_fetch)
    out: bytes = document.write_pdf()
    return out
