"""HTML and DOCX files made for the tests: the seed articles as news web pages and as Word files,
a Word file with a table, and hostile or broken .docx files (zip bombs, an encrypted file, a truncated
zip, random bytes).

The pages wrap each article in the clutter of a real news site (navigation, a cookie banner,
adverts, a "Most read" sidebar, a footer); every piece of that clutter is in BOILERPLATE, so a test
can check that none of it reaches the extracted lines.
"""

from __future__ import annotations

import html
import io
import random
import zipfile
from pathlib import Path

import docx

SITE = "The Harbour Ledger"
NAV_LINKS = ("Home", "World news", "Business & markets", "Technology desk", "Opinion columns", "Sport results",
             "Weather forecast", "Subscribe for £1 a week")
COOKIE_TEXT = ("We and our 143 partners use cookies to store and access information on your device, "
               "to personalise adverts and content, and to measure audiences.")
COOKIE_BUTTONS = ("Accept all cookies", "Manage my preferences")
ADVERTS = (
    ("Advertisement", "Switch to Nimbus Fibre today: 900 Mbps broadband for £19.99 a month, no contract."),
    ("Sponsored content", "Retire in the sun: Costa Verde apartments from €149,000 with a 10-year guarantee."),
)
SHARE_BUTTONS = ("Share on Facebook", "Share on X", "Copy link to this story")
NEWSLETTER = ("Get the Business Briefing",
              "Our editors’ pick of the day’s biggest stories, in your inbox every weekday morning.", "Sign up")
RELATED_HEADING = "Related stories"
RELATED = (
    ("Shipping rates fall for a third month as demand for containers eases",
     "Analysts expect freight costs to stay low until the summer, with fewer orders from retailers."),
    ("Chipmakers race to build new plants in Europe",
     "Three firms have announced factories worth more than €30bn in the past year alone."),
)
MOST_READ_HEADING = "Most read"
MOST_READ = (
    "Pensioner wins lottery twice in one week with the same numbers",
    "Council approves new cycle lane on the harbour road after long row",
    "Ten recipes for a quick midweek dinner the whole family will enjoy",
    "Storm warning issued for the east coast as winds reach 80 mph",
    "Local bakery named best in the region for the third year running",
)
FOOTER_LINKS = ("About us", "Contact the newsroom", "Privacy policy", "Cookie settings", "Terms and conditions",
                "Advertise with us")
COPYRIGHT = f"© 2025 {SITE} Media Group Ltd. All rights reserved. Registered in England No. 01234567."
BOILERPLATE = (
    SITE, *NAV_LINKS, COOKIE_TEXT, *COOKIE_BUTTONS, *(text for pair in ADVERTS for text in pair), *SHARE_BUTTONS,
    *NEWSLETTER, RELATED_HEADING, *(text for pair in RELATED for text in pair), MOST_READ_HEADING, *MOST_READ,
    *FOOTER_LINKS, COPYRIGHT,
)

QUARTERLY_TABLE = (
    ("Quarter", "Revenue (¥ bn)", "Net income (¥ bn)"),
    ("Q1 2024", "221.9", "24.4"),
    ("Q2 2024", "243.2", "24.0"),
    ("Q3 2024", "236.5", "43.9"),
    ("Q4 2024", "280.2", "48.9"),
)


def read_seed(path: Path) -> tuple[str, list[str]]:
    """A seed article: its title (the first line) and its paragraphs (the other non-blank lines), stripped."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    return lines[0], lines[1:]


def _slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def _links(texts: tuple[str, ...], indent: str) -> str:
    return "\n".join(f'{indent}<li><a href="/{_slug(text)}">{html.escape(text)}</a></li>' for text in texts)


def news_page(title: str, paragraphs: list[str], semantic: bool = True, charset: str = "utf-8",
              table: tuple[tuple[str, ...], ...] = ()) -> str:
    """An article as a news site's page, declaring charset in a <meta>. semantic=False builds the same
    page from <div>s only, as older sites do, so an extractor cannot rely on <article>, <nav> or <footer>.
    A table (its first row the header) follows the paragraphs."""
    def tag(name: str) -> str:
        return name if semantic else "div"

    body = []
    for number, paragraph in enumerate(paragraphs):
        body.append(f"      <p>{html.escape(paragraph)}</p>")
        if number in (1, 4):  # adverts sit between paragraphs, as on most news pages
            label, text = ADVERTS[0 if number == 1 else 1]
            body.append(f'      <div class="ad-slot advertisement" data-ad-unit="mpu-{number}">\n'
                        f'        <span class="ad-label">{html.escape(label)}</span>\n'
                        f'        <a href="https://ads.example.net/click?id={number}" rel="sponsored">'
                        f'<img src="https://ads.example.net/banner{number}.jpg" alt="">{html.escape(text)}</a>\n'
                        f"      </div>")
    if table:
        head = "".join(f"<th>{html.escape(text)}</th>" for text in table[0])
        rows = "\n".join("          <tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in row) + "</tr>"
                         for row in table[1:])
        body.append(f"      <table>\n        <thead><tr>{head}</tr></thead>\n        <tbody>\n{rows}\n"
                    f"        </tbody>\n      </table>")
    # Inside the article, as most sites put them: a newsletter box, then teasers of other stories.
    body.append(f'      <div class="newsletter-signup">\n        <h3>{html.escape(NEWSLETTER[0])}</h3>\n'
                f"        <p>{html.escape(NEWSLETTER[1])}</p>\n"
                f'        <form action="/newsletter"><input type="email" name="email">'
                f'<button type="submit">{NEWSLETTER[2]}</button></form>\n      </div>')
    teasers = "\n".join(f'          <li><a href="/{_slug(headline)}"><h3>{html.escape(headline)}</h3>'
                        f"<p>{html.escape(teaser)}</p></a></li>" for headline, teaser in RELATED)
    body.append(f'      <section class="related-stories">\n        <h2>{RELATED_HEADING}</h2>\n'
                f"        <ul>\n{teasers}\n        </ul>\n      </section>")
    article = "\n".join(body)
    share = "".join(f'<li><button type="button">{html.escape(text)}</button></li>' for text in SHARE_BUTTONS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="{charset}">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{html.escape(title)} | {SITE}</title>
  <link rel="stylesheet" href="/static/site.css">
  <script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"section": "business"}});</script>
</head>
<body class="article-page">
  <div id="cookie-banner" class="cookie-consent" role="dialog" aria-label="Cookie consent">
    <p>{html.escape(COOKIE_TEXT)}</p>
    <button type="button">{COOKIE_BUTTONS[0]}</button> <button type="button">{COOKIE_BUTTONS[1]}</button>
  </div>
  <{tag("header")} class="site-header">
    <a class="logo" href="/">{SITE}</a>
    <{tag("nav")} class="main-nav" aria-label="Sections">
      <ul>
{_links(NAV_LINKS, "        ")}
      </ul>
    </{tag("nav")}>
  </{tag("header")}>
  <{tag("main")} class="page">
    <{tag("article")} class="story">
      <h1 class="headline">{html.escape(title)}</h1>
      <div class="meta"><time datetime="2025-02-25T09:30:00Z">25 February 2025</time></div>
      <ul class="share-bar">{share}</ul>
{article}
    </{tag("article")}>
    <{tag("aside")} class="sidebar most-read">
      <h2>{MOST_READ_HEADING}</h2>
      <ol>
{_links(MOST_READ, "        ")}
      </ol>
    </{tag("aside")}>
  </{tag("main")}>
  <{tag("footer")} class="site-footer">
    <ul class="footer-links">
{_links(FOOTER_LINKS, "      ")}
    </ul>
    <p class="copyright">{html.escape(COPYRIGHT)}</p>
  </{tag("footer")}>
</body>
</html>
"""


def seed_html(seeds_dir: Path, out_dir: Path, semantic: bool = True) -> list[Path]:
    """Each seeds_dir/*.txt article as out_dir/<same name>.html, a news page (see news_page)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for seed in sorted(seeds_dir.glob("*.txt")):
        title, paragraphs = read_seed(seed)
        path = out_dir / f"{seed.stem}.html"
        path.write_text(news_page(title, paragraphs, semantic), encoding="utf-8")
        written.append(path)
    return written


def seed_docx(seeds_dir: Path, out_dir: Path) -> list[Path]:
    """Each seeds_dir/*.txt article as out_dir/<same name>.docx: the title as Heading 1, then the paragraphs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for seed in sorted(seeds_dir.glob("*.txt")):
        title, paragraphs = read_seed(seed)
        document = docx.Document()
        document.add_heading(title, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
        path = out_dir / f"{seed.stem}.docx"
        document.save(str(path))
        written.append(path)
    return written


def docx_with_table(path: Path) -> list[str]:
    """A quarterly report: a heading, paragraphs, a blank paragraph, a table of QUARTERLY_TABLE with a
    merged title row above it, a subheading and a paragraph after the table. Returns the lines a reader
    should give, in order."""
    document = docx.Document()
    document.add_heading("Quarterly results 2024", level=1)
    document.add_paragraph("Revenue grew in every quarter of the year.")
    document.add_paragraph("")  # an empty paragraph, which a reader drops
    document.add_paragraph("The figures below are unaudited.")
    table = document.add_table(rows=len(QUARTERLY_TABLE) + 1, cols=len(QUARTERLY_TABLE[0]))
    merged = table.cell(0, 0).merge(table.cell(0, len(QUARTERLY_TABLE[0]) - 1))
    merged.text = "Group figures"
    for row, values in zip(table.rows[1:], QUARTERLY_TABLE):
        for cell, value in zip(row.cells, values):
            cell.text = value
    document.add_heading("Outlook", level=2)
    document.add_paragraph("Management expects cloud revenue to keep growing in 2025.")
    document.save(str(path))
    return [
        "Quarterly results 2024", "Revenue grew in every quarter of the year.", "The figures below are unaudited.",
        "Group figures", *(" | ".join(row) for row in QUARTERLY_TABLE),
        "Outlook", "Management expects cloud revenue to keep growing in 2025.",
    ]


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="word/document.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/></Relationships>'
)


def zip_bomb_docx(path: Path, entry_mb: int = 120) -> None:
    """A .docx whose word/document.xml expands to entry_mb MB of repeated paragraphs, about 190 times
    its compressed size. Streamed into the zip, so neither this nor the file on disk takes much memory.
    The default trips the 100 MB total limit; 20 trips only the compression-ratio limit."""
    paragraph = b"<w:p><w:r><w:t>lol</w:t></w:r></w:p>" * 28_000  # about 1 MB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:  # fastest; still ~190:1
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        with archive.open("word/document.xml", "w", force_zip64=True) as entry:
            entry.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w='
                        b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>')
            written = 0
            while written < entry_mb * 1024 * 1024:
                entry.write(paragraph)
                written += len(paragraph)
            entry.write(b"</w:body></w:document>")


def encrypted_docx(path: Path) -> None:
    """What Word saves for a password-protected .docx: an OLE compound file (its header, then empty sectors)."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff\x09\x00\x06\x00"
    path.write_bytes(header.ljust(512, b"\x00") + bytes(4096))


def corrupt_docx(path: Path) -> None:
    """A real .docx cut to its first half: the zip's central directory, at the end, is gone."""
    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("This file was cut short in transfer.")
    document.save(buffer)
    data = buffer.getvalue()
    path.write_bytes(data[: len(data) // 2])


def not_a_docx(path: Path, size: int = 4096) -> None:
    """Random bytes under a .docx name (seeded, so every run writes the same file)."""
    path.write_bytes(random.Random(path.name).randbytes(size))
