"""HTML main-text extractors compared on the generated news pages of tests/office_corpus.py
(article lines kept, page furniture let in, pages with no article refused, time per page).

    .venv/bin/python evals/html_extractors.py
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
import justext, trafilatura
from trafilatura.settings import use_config
from office_corpus import BOILERPLATE, news_page, read_seed, QUARTERLY_TABLE
from rag.loaders import html as H

def norm(s): return " ".join(s.split())

def jus(page):
    paras = justext.justext(page.encode(), justext.get_stoplist("English"))
    return [p.text for p in paras if not p.is_boilerplate]

def traf(mes=None, fast=False, prune=True):
    cfg = use_config()
    if mes: cfg.set("DEFAULT", "MIN_EXTRACTED_SIZE", str(mes))
    def run(page):
        tree = trafilatura.load_html(page)
        if prune:
            for el in H._NEVER_MAIN_TEXT(tree):
                if el.getparent() is not None: el.drop_tree()
        r = trafilatura.bare_extraction(tree, include_comments=False, with_metadata=True, config=cfg, fast=fast)
        lines = []
        if r: H._block_lines(r.body, lines)
        return lines
    return run

extractors = {
  "jusText, English stoplist, defaults": jus,
  "trafilatura defaults": traf(prune=False),
  "trafilatura, pruned": traf(),
  "trafilatura, pruned, MIN_EXTRACTED_SIZE=1": traf(1),
  "trafilatura, pruned, MIN_EXTRACTED_SIZE=1, fast": traf(1, True),
  "read_html": lambda page: _ours(page),
}
from rag.loaders import Unreadable
def _ours(page):
    try: return H.read_html(page.encode(), "x.html").lines
    except Unreadable: return []
seeds = sorted(Path("seeds").glob("*.txt"))
FR = "Le café coûte 3 € – « très cher » – et c’est l’œuvre de Noël, dit-il aux journalistes présents ce matin."
pages = []
for semantic in (True, False):
    for seed in seeds:
        title, paras = read_seed(seed)
        pages.append(("full", title, paras, news_page(title, paras, semantic)))
        pages.append(("short", title, paras[:1], news_page(title, paras[:1], semantic)))
    pages.append(("short", "Café prices", [FR], news_page("Café prices", [FR], semantic)))
    pages.append(("full", "Alibaba results", ["Revenue rose in every quarter.", "The table shows it."], news_page("Alibaba results", ["Revenue rose in every quarter.", "The table shows it."], semantic, table=QUARTERLY_TABLE)))
empty = ['<html><body><header><nav><a href="/">Home</a> <a href="/n">World news</a></nav></header><div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience and to show you adverts.</p><button>Accept all cookies</button></div><footer><a href="/p">Privacy policy</a><p>© 2025 Example Ltd.</p></footer></body></html>',
         '<html><head><title>App</title></head><body><noscript>Please enable JavaScript to use this site.</noscript><div id="root"></div></body></html>',
         news_page("", []).replace('<h1 class="headline"></h1>', "")]
print("| extractor | article lines kept, full pages | short pages | furniture let in, full | short | empty pages refused | ms/page |")
for name, fn in extractors.items():
    res = {}
    t = 0.0
    for kind, title, paras, page in pages:
        want = [norm(p) for p in ([title] if fn is not jus else []) + paras] if False else [norm(p) for p in paras]
        t0 = time.perf_counter(); lines = fn(page); t += time.perf_counter() - t0
        k = res.setdefault(kind, [0, 0, 0, 0])
        k[0] += sum(w in lines for w in want); k[1] += len(want)
        bp = [b for b in BOILERPLATE if b not in " ".join([title, *paras])]
        k[2] += sum(any(b in l for l in lines) for b in bp); k[3] += len(bp)
        if kind == "table":
            pass
    refused = sum(not fn(p) for p in empty)
    f, s = res["full"], res["short"]
    print(f"| {name} | {f[0]}/{f[1]} | {s[0]}/{s[1]} | {f[2]}/{f[3]} | {s[2]}/{s[3]} | {refused}/{len(empty)} | {t/len(pages)*1000:.0f} |")
