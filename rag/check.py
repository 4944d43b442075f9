"""The claim check: does a cited line state this sentence, and does the sentence answer the question?

Cheapest first:
1. Rules that reject outright, with no model call, each a mistake a small model really makes:
   - a figure the sentence claims that the cited lines do not hold as the same kind of quantity;
   - a figure the line states with the opposite direction ("fell 68%" against "a 68% surge");
   - a figure the line gives for another subject (the claim's names are not where the figure is);
   - a name the sentence claims that the cited lines never mention (names from the question are
     left to the judge: "New York Stock Exchange" against "NYSE");
   - a word the sentence takes from the question that the cited lines never use ("edited the
     article" put around a name the line gives for something else);
   - a year, a count or an ordinal the question names a thing by ("the 2022 prize", "episode 27",
     "her third tour") that the cited document never gives (it is about another period or thing);
   and, for "answers":
   - a how-much, how-many or when question answered without a figure or a date, a question in
     yuan (or percent) answered in dollars, a how-many question answered in money, a who-question
     answered without a name;
   - a which-question asking for a named kind of thing (a country, a firm) answered with no name
     the question does not already give, and a figure answering a what-question that is not a
     figure of what it asks for ("the stock gained 68%" for earnings per share);
   - a who-question about a role ("Who is the chief executive ...?") answered with a person
     whom neither the sentence nor the cited sentences naming them give that role, and a question
     whose subject is a person by role ("How did the company's boss characterise ...") answered by
     a sentence naming people whose cited lines give no one that role;
   - a question asking for one end of a scale ("the shallowest lake") answered with the other
     ("the deepest"), a question asking what is not so answered by lines that negate nothing, and
     a question asking for something besides what it names ("apart from holy water and olive oil")
     answered with only those things;
   - a question about named things (Ming-Chi Kuo) answered by a sentence whose words and cited
     lines name none of them (a name many documents use, "the United States", may be the cited
     document's), and a question naming a document's title answered from a document that never names it;
   - a question whose two rarest words (of words at most 2% of the documents use) the sentence, its
     lines and their titles never use (it is about something else on the same page).
2. The judge: "states" is the language model asked a yes/no question (do these words of the line
   state the claim?), read as the probability of "yes" from its first token; its instructions and
   examples are one fixed prompt prefix (`prompts/judge.txt`), which llama.cpp keeps cached, so a
   check costs only the tokens of the line, the claim and the question. "answers" is read off the
   answering prompt shown only the cited lines: the probability that the model would not reply
   "I don't know." (see ClaimJudge).
Words are compared by stem, and by dictionary form where a stemmer keeps irregular forms apart
("wrote" and "written"). A near-verbatim claim (nearly all its words in the supporting sentence of the line, and no rule
broken) counts as stated without asking the judge.

The thresholds are settings; evals/README.md says which dev sets they were chosen on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.citations import ContextLine
from rag.errors import ConfigError
from rag.prompts import REFUSAL_OPENING, Prompts
from rag.settings import Settings
from rag.text import (
    ALNUM,
    LETTER,
    LOWER,
    NOT_NAMES,
    UPPER,
    DocumentFrequencies,
    Quantity,
    Sentence,
    antonyms,
    content_words,
    holds_words,
    lemmas,
    mask_quantities,
    names,
    numbers,
    opposites,
    quantities,
    split_sentences,
    strip_markers,
    word_forms,
    word_sequence,
)
from rag.types import Span

# Words that give a figure its direction; irregular forms listed, regular ones matched by prefix.
_UP = re.compile(
    r"\b(ris(e|es|en|ing)|rose|up|gain(s|ed|ing)?|increas(e|es|ed|ing)|gr(ew|ow|ows|own|owing|owth)|jump(s|ed|ing)?"
    r"|surg(e|es|ed|ing)|soar(s|ed|ing)?|climb(s|ed|ing)?|higher|boost(s|ed)?|rall(y|ied|ies)|advanc(e|ed|es)|rebound(ed)?)\b",
    re.I,
)
_DOWN = re.compile(
    r"\b(f(a|e)ll(s|en|ing)?|drop(s|ped|ping)?|declin(e|es|ed|ing)|decreas(e|es|ed|ing)|down|slump(s|ed)?|plung(e|es|ed)"
    r"|dip(s|ped)?|lower|shr(ink|ank|unk|inking)|sl(id|ide|iding)|s(ink|ank|unk)|los(e|s|t|ing)|tumbl(e|ed|es)"
    r"|slid|contract(ed|ion))\b",
    re.I,
)
_MIN_QUOTE_WORDS = 3  # a claim needs this many content words to count as stated by quoting alone
# A bare answer is shown as its sentence up to this length; a longer "sentence" is a table or a list
# run together (an infobox: "Single by Pete Townshend from the album ... Length 2 : 44 Label ...").
_BARE_ANSWER_SENTENCE_CHARS = 300
# A question's rarest words (of those at most 2% of the documents use), one of which an answer's
# evidence must use. Both numbers were chosen on ClapNQ dev (evals/README.md).
_SPECIFIC_WORDS = 2
_SPECIFIC_SHARE = 0.02
_COMMON_DOCUMENTS = 10  # fewer documents than this using a name never make it common
# A short answer (at most this many content words) counts as stated when copied from a sentence
# holding at least this share of the question's words (chosen on the seeds golden set, round 3).
_FRAGMENT_WORDS = 4
_FRAGMENT_QUESTION_COVERAGE = 0.5
_LEAD_WORDS = 6  # content words before a figure that say what it is a figure of
_DIRECTION_REACH = 40  # characters around a figure in which a direction word is taken to be about it
_WHO = re.compile(r"^\s*(who|whom|whose)\b", re.I)
# "How much revenue ..." asks for an amount; "how much has the stock risen", "by how much", "how
# much of the world's cocoa" ask for a change or a share, which a percentage gives.
_HOW_MUCH_AMOUNT = re.compile(r"^\s*how much\b(?!\s+of\b)", re.I)
_CHANGE_OR_SHARE = re.compile(
    r"\b(?:by how much|ris(?:e|en|es|ing)|rose|gr(?:ow|ew|own|ows|owing|owth)|increas\w*|f(?:all|ell|allen|alls|alling)|drop\w*"
    r"|declin\w*|jump\w*|gain\w*|surg\w*|climb\w*|soar\w*|shr[iu]nk\w*|exceed\w*|up|down|more|less|higher|lower"
    r"|chang\w*|share|stake|percent\w*|rate)\b", re.I)
_HOW_MUCH = re.compile(r"^\s*(how (much|many|big|large|high|long|old|far)|what (is|was|are|were) the (amount|number|size|price|value|cost|percentage|share))\b", re.I)
_HOW_MANY = re.compile(r"^\s*how many\b", re.I)
_TIME_UNITS = r"(?:years?|months?|weeks?|days?|quarters?|decades?|centuries|century|hours?|minutes?|seasons?)"
_HOW_MANY_TIME = re.compile(rf"^\s*how many\s+(?:\w+\s+)?{_TIME_UNITS}\b", re.I)
_WHEN = re.compile(r"^\s*(when|(in )?what year|(on )?what date)\b", re.I)
_UNIT_NAMES = "yuan renminbi rmb dollars euros pounds percent"
_UNITS = re.compile(rf"\b({'|'.join(_UNIT_NAMES.split())}|per cent)\b|%", re.I)
_NUMBER_WORD_CHOICES = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy|eighty"
    r"|ninety|hundred|thousand|million|billion|trillion|dozen|half|all|none|every|unanimous\w*|majority|most|several"
)
_NUMBER_WORDS = re.compile(rf"\b({_NUMBER_WORD_CHOICES})\b", re.I)
_GENERIC_QUESTION_WORDS = content_words(
    "describe description explain name list many much type kind mean meaning happen happens called call "
    "use used known first best main difference example examples point points"
)
# Words that frame a question in time or extent ("in the latest quarter", "the current president",
# "overall revenue"): a line states its facts as of its own date and scope.
_FRAMING_WORDS = content_words("current currently latest recent recently overall total now today present presently")
# Verbs of saying: the line is itself the report ("How much revenue did Alibaba Cloud report?").
_REPORTING_WORDS = content_words("report reported say said saying state stated announce announced tell told note noted mention mentioned according")
_UNIT_WORDS = content_words(f"{_UNIT_NAMES} cent usd cny eur gbp jpy hkd")
# What a what/which question asks for ("What is Alibaba's ticker symbol on ...", "Which firm does ..."):
# an answer names it ("BABA is the ticker symbol") where the line only gives it ("NYSE: BABA").
# Words that only say a figure is asked for ("the size of the investment"), not what it measures.
_MEASURE_WORDS = content_words("size amount number price value cost figure sum level total percentage proportion ratio rate")
# "In what year was gold discovered?" is answered by "1886." alone: a year or a date need not say
# it is one ("8%" still must).
_TIME_WORDS = content_words("year decade century date day month")
_ASKED_FOR = re.compile(
    r"^\s*(?:(?:in|on|at|for|from|to|by|with|of)\s+)?(?P<wh>what|which)\s+(?:(?:is|was|are|were)\s+)?(?:(?:the|a|an|its|their)\s+)?(?:\S+['’]s\s+)?"
    r"(?P<words>(?:(?!(?:of|on|in|for|at|by|to|from|with|does|did|do|is|was|are|were|has|have|had|will|would|can|could)\b)"
    rf"{LETTER}(?:{LETTER}|-)*\s*){{1,3}})",
    re.I,
)
# Kinds of thing a which/what question asks for that only a name gives: "Which US cloud service ...",
# "In which countries ...", "Which firm ...". Chosen as kinds with proper names (places, bodies,
# people by role, works), not on any one question.
_NAMED_KINDS = content_words(
    "country countries nation nations state states city cities town towns region province continent island river mountain "
    "company companies firm firms startup startups start-up start-ups subsidiary subsidiaries bank banks brand brands "
    "corporation organisation organization agency institution "
    "university college school team club band service services platform network newspaper magazine channel party "
    "person people man woman analyst president king queen leader executive founder player actor actress singer "
    "author writer artist director scientist language religion ship planet"
)
# Roles a who-question asks a person's name for ("Who is the chief executive of ..."): chosen as
# titles and jobs people hold, not on any one question.
_ROLES = content_words(
    "ceo cfo coo cto chief executive officer chairman chairwoman chair president founder cofounder co-founder "
    "director head leader owner manager coach captain governor mayor minister secretary spokesperson spokesman "
    "spokeswoman analyst author writer editor creator inventor designer architect producer composer "
    "chancellor premier senator judge commander general principal dean partner investor economist boss"
)
# Words for whoever leads an organisation: a question's "boss" is the line's "CEO" (the embedding
# model puts them at 0.53, below the synonyms' threshold). Whole words, not stems: "execution" is
# not "executive".
_LEADERS = frozenset("boss bosses ceo ceos chief chiefs executive executives head heads leader leaders "
                     "chairman chairwoman chair president presidents".split())
# The question's subject given by role: "How did the company's boss characterise ...", "What does
# Alibaba's chief executive expect ...". A determiner or a possessive comes first, so "How did
# analysts react" (anyone's analysts) is not asking about one person.
_SUBJECT_ROLE = re.compile(
    r"^\s*(?:how|what|why|when|where)\s+(?:\w+\s+)?(?:did|does|do|has|have|had|is|was|will|would|could|can)\s+"
    rf"(?:(?:the\s+)?\S+['’]s\s+|the\s+)(?:(?:current|new|former)\s+)?(?P<words>{LETTER}(?:{LETTER}|-)*(?:\s+{LETTER}(?:{LETTER}|-)*)?)",
    re.I,
)
_ASKED_ROLE = re.compile(
    r"^\s*who\s+(?:is|was|are|were)\s+(?:(?:the|a|an)\s+)?(?:(?:current|new|former|then)\s+)?(?:\S+['’]s\s+)?"
    rf"(?P<words>(?:(?!(?:of|on|in|for|at|by|to|from|with|who|that|behind|mentioned)\b){LETTER}(?:{LETTER}|-)*\s*){{1,3}})",
    re.I,
)
# A capitalised run ("Alibaba Cloud", "Amazon Web Services", "86Research"): a name, or a name joined to one.
_NAME_RUN = re.compile(rf"\b\d*{UPPER}{ALNUM}*(?:['’]s)?(?:\s+(?:of\s+|the\s+|de\s+|and\s+)?\d*{UPPER}{ALNUM}*(?:['’]s)?)*")
_TIME_SPAN = re.compile(
    rf"\b(?:\d+(?:[.,]\d+)?|{_NUMBER_WORD_CHOICES})[\s-]+(?:(?:consecutive|straight|full|more)\s+)?{_TIME_UNITS}\b", re.I
)
_CHOICE = re.compile(r"\bor\b", re.I)
_NAMING_WORDS = content_words("known called named termed referred also commonly usually often generally")
_COUNT_ROUNDING = 0.05  # a question's "1,500 visitors" is the document's 1,512
_YEAR = re.compile(r"(?<![\d.,$£€¥])\b(1[5-9]\d\d|20\d\d)\b(?![.,]\d|\s*(?:%|percent|per cent|million|billion|yuan|dollars))", re.I)
_MONTHS = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\b(century|decade|season|spring|summer|autumn|fall|winter)\b", re.I)


@dataclass(frozen=True, slots=True)
class LineEvidence:
    """The words of one cited line that best match a claim."""

    source: str
    line: int
    text: str  # the whole line
    start: int  # the supporting sentence: text[start:end]
    end: int
    window: str  # the supporting sentence with the one before it (for "it", "their"): what the judge reads
    page: int | None = None
    end_line: int | None = None  # a wrapped paragraph: `text` joins lines line..end_line (see ContextLine)
    lines: tuple[str, ...] = ()
    parts: tuple[tuple[int, int], ...] = ()

    @property
    def spans(self) -> list[Span]:
        return line_spans(self.line, self.parts, self.start, self.end)

    @property
    def quote(self) -> str:
        """The exact text of the cited lines."""
        return "\n".join(self.lines) if self.lines else self.text


def line_spans(line: int, parts: tuple[tuple[int, int], ...], start: int, end: int) -> list[Span]:
    """text[start:end] as spans of the lines it lies on: one span, or one per line of a wrapped
    paragraph whose lines lie at `parts` in its joined text."""
    if not parts:
        return [Span(line=line, start_char=start, end_char=end)]
    return [
        Span(line=line + k, start_char=max(start, low) - low, end_char=min(end, high) - low)
        for k, (low, high) in enumerate(parts)
        if max(start, low) < min(end, high)
    ]


def find_evidence(claim: str, source: str, line: int, text: str, page: int | None = None, *, end_line: int | None = None,
                  lines: tuple[str, ...] = (), parts: tuple[tuple[int, int], ...] = ()) -> LineEvidence:
    """The sentence of `text` sharing most words and figures with the claim (and the one before it)."""
    sentences = split_sentences(text) or [Sentence(text.strip(), 0, len(text))]
    claim_words, claim_numbers = content_words(claim), numbers(claim)

    def overlap(sentence: Sentence) -> int:
        return len(claim_words & content_words(sentence.text)) + 2 * len(claim_numbers & numbers(sentence.text))

    best = max(range(len(sentences)), key=lambda i: (overlap(sentences[i]), -i))
    chosen = sentences[best]
    window = chosen.text if best == 0 else f"{sentences[best - 1].text} {chosen.text}"
    return LineEvidence(source, line, text, chosen.start, chosen.end, window, page, end_line, lines, parts)


def _direction(text: str, start: int, end: int) -> str | None:
    """"up" or "down" for the closest direction word within reach of text[start:end] (a figure)."""
    before = text[max(0, start - _DIRECTION_REACH) : start]
    after = text[end : end + _DIRECTION_REACH]
    candidates = []
    for pattern, name in ((_UP, "up"), (_DOWN, "down")):
        for match in pattern.finditer(before):
            candidates.append((len(before) - match.end(), name))
        for match in pattern.finditer(after):
            candidates.append((match.start(), name))
    return min(candidates)[1] if candidates else None


def _same(a: Quantity, b: Quantity) -> bool:
    if a.value != b.value or a.kind != b.kind:
        return False
    if a.currency and b.currency and a.currency != b.currency:
        return False
    return not (a.scale and b.scale and a.scale != b.scale)


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Where the clause around text[start:end] begins and ends: the nearest ";", "," + and/while/but,
    or the end of its sentence on each side (as split_sentences finds it: "Alibaba Group Holding Ltd.
    has announced ..." is one sentence, so its figure's clause still names Alibaba)."""
    sentence = next((s for s in split_sentences(text) if s.start <= start < s.end), None)
    low, high = (sentence.start, sentence.end) if sentence else (0, len(text))
    marks = (";", ", and", ", while", ", but")
    left = max(text.rfind(mark, low, start) for mark in marks)
    rights = [i for i in (text.find(mark, end, high) for mark in marks) if i != -1]
    return (left + 1 if left >= 0 else low), (min(rights) if rights else high)


@dataclass
class RuleResult:
    reason: str | None = None  # why the claim is rejected; None when no rule rejects it
    echoed: tuple[str, ...] = ()  # the question's words the claim took that the lines never use (the echo rule)


def rule_check(claim: str, evidence: list[LineEvidence], question: str, document_text: str, titles: str = "",
               synonyms: Synonyms | None = None) -> RuleResult:
    """Reject what can be rejected without a model (see the module docstring).

    Figures and names the sentence repeats from the question need not be on the cited line
    when the cited document states them elsewhere ("in the fourth quarter of 2024"), nor need
    the names of the cited documents' titles: a document's lines speak of its subject as "he",
    "the show" ("Andre Gunder Frank" on a page titled so; "Guy's Grocery Games" asked in lower case).
    """
    # A year the question asks about that the cited document never gives: the document is about
    # another period ("Who won the 2022 prize?" answered from the 2021 report).
    for year in _YEAR.findall(question):
        if not re.search(rf"(?<!\d){year}(?!\d)", document_text):
            return RuleResult(f"the cited document never mentions {year}, which the question asks about")
    unknown = _count_missing(question, document_text) or _ordinal_missing(question, document_text)
    if unknown:
        return RuleResult(f"the cited document never mentions {unknown}, which the question asks about")
    lines_text = "\n".join(e.text for e in evidence)
    claim_names = _names_of(claim, document_text)
    given_numbers = numbers(question) & numbers(document_text)
    held = quantities(lines_text)
    for figure in quantities(claim):
        if figure.number in given_numbers or _part_of_a_name(claim, figure):
            continue
        matches = [q for q in held if _same(figure, q)]
        if not matches:
            return RuleResult(f"the cited lines do not give {figure.text.strip()}")
        claimed = _direction(claim, figure.start, figure.end)
        if figure.kind != "count" and claimed:
            stated = {_direction(lines_text, q.start, q.end) for q in matches}
            if stated and None not in stated and claimed not in stated:
                return RuleResult(f"the cited line has {figure.text.strip()} going the other way")
        subjects = _subjects_of(claim, figure, document_text)
        if subjects and not any(_bound_to(subjects, lines_text, q, document_text) for q in matches):
            return RuleResult(f"the cited lines give {figure.text.strip()} for something else")
        if _swapped(claim, figure, lines_text, matches, held):
            return RuleResult(f"the cited lines give {figure.text.strip()} for something else")
    opposite = opposite_word(claim, evidence)
    if opposite:
        return RuleResult(f"the cited lines say {opposite[1]}, not {opposite[0]}")
    echoed = echoed_words(question, claim, f"{lines_text}\n{titles or ''}", synonyms)
    if echoed:
        return RuleResult(f"the cited lines do not say {', '.join(echoed)}, which the sentence takes from the question", tuple(echoed))
    # A name the lines do not mention is a claim about something else, unless the question asks
    # about it and the cited document names it elsewhere ("the company" on the line), or the lines
    # give its initials ("New York Stock Exchange" against "NYSE").
    asked = names(question) | {n for n in claim_names if re.search(rf"\b{re.escape(n)}\b", question.lower())}
    exempt = {n for n in asked if mentions(document_text, n)} | {n for n in claim_names if titles and mentions(titles, n)}
    missing = {n for n in claim_names - exempt if not mentions(lines_text, n) and not _initials_in(claim, n, lines_text)}
    if missing:
        return RuleResult(f"the cited lines do not mention {', '.join(sorted(missing))}")
    return RuleResult()


def opposite_word(claim: str, evidence: list[LineEvidence]) -> tuple[str, str] | None:
    """(the claim's word, the line's) when the claim uses a word its cited lines never do where a
    sentence of theirs uses that word's opposite in the same place, next to a word both share ("a
    three-year low" for "a three-year high", "more expensive models" for "cheaper models"): the line
    says the other thing. Antonyms are WordNet's (`antonyms`); the shared neighbour keeps a paraphrase
    ("win back customers" for "recover lost clientele") from counting. A negation in the claim or the
    line's sentence ("not visible" for "invisible") may say the same thing the other way round, so
    none is judged then."""
    if _NEGATED.search(claim):
        return None
    lines_text = "\n".join(e.text for e in evidence)
    used = set().union(*(word_forms(w) for w in _content_tokens(lines_text)))
    claimed = _content_tokens(claim)
    claim_forms = set().union(*(word_forms(w) for w in claimed))
    # Most words have no antonym: only the claim's words that do, and that the lines never use, are looked for.
    opposed = {i: found for i, w in enumerate(claimed) if not word_forms(w) & used and (found := opposites(w))}
    if not opposed:
        return None
    for sentence in split_sentences(lines_text):
        if _NEGATED.search(sentence.text):
            continue
        said = _content_tokens(sentence.text)
        for i, found in opposed.items():
            for j, other in enumerate(said):
                forms = word_forms(other)
                if forms & found and not forms & claim_forms and _neighbours(claimed, i) & _neighbours(said, j):
                    return claimed[i].lower(), other.lower()
    return None


def _content_tokens(text: str) -> list[str]:
    """The text's words of three letters or more that are no stop words, as written, in order."""
    return [w for w in re.findall(rf"{LETTER}{{3,}}(?:-{LETTER}+)*", text) if word_sequence(w)]


def _neighbours(words: list[str], i: int) -> set[str]:
    """The forms of the words just before and after words[i]."""
    return set().union(*(word_forms(words[k]) for k in (i - 1, i + 1) if 0 <= k < len(words)))


def _count_missing(question: str, document_text: str) -> str | None:
    """A number of 10 or more the question names a thing by ("the saying to 86 something", "episode
    27", "10 digit dialing") that the cited document never gives, even rounded (5%): it is about
    another thing. Small numbers are left alone (a document writes "three stages"), and so are
    years (exact, above), amounts, percentages and numbers inside a name ("4od", "Q4")."""
    asked = [q for q in quantities(question) if q.kind == "count" and not q.scale and q.value >= 10
             and not _part_of_a_name(question, q) and q.number not in _YEAR.findall(question)]
    held = [float(n) for n in numbers(document_text)] if asked else []
    return next((q.text.strip() for q in asked if not any(abs(n - q.value) <= _COUNT_ROUNDING * q.value for n in held)), None)


_ORDINALS = ("second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
             "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth").split()
_ROMAN = "II III IV V VI VII VIII IX X XI XII XIII XIV XV XVI XVII XVIII XIX XX".split()
# "her third tour", "the fifth season": an ordinal before a word, not "per second", "a second" or
# part of "twenty-second".
_ASKED_ORDINAL = re.compile(rf"(?<!\bper )(?<!\ba )(?<!ty )(?<!ty-)\b({'|'.join(_ORDINALS)})\s+({LETTER}+)", re.I)


def _ordinal_missing(question: str, document_text: str) -> str | None:
    """An ordinal the question names a thing by ("on her third tour", "the fifth season") that the
    cited document never gives, as the word, as "3rd", as "season 3" or as a Roman numeral ("World
    War II"): the document tells of other ones ("two tours, the first in 1893 and the second in
    1894"). "First" and "last" are left alone: a document says them in too many ways."""
    for found in _ASKED_ORDINAL.finditer(question):
        word, thing = found.group(1).lower(), found.group(2)
        number = _ORDINALS.index(word) + 2
        suffix = {2: "nd", 3: "rd"}.get(number % 10 if number > 20 else number, "th")
        written = (rf"\b{word}\b|\b{number}{suffix}\b|\b{re.escape(thing)}\s+(?:no\.?\s*)?{number}\b"
                   rf"|(?-i:\b{_ROMAN[number - 2]}\b)")
        if not re.search(written, document_text, re.I):
            return f"a {word} {thing.lower()}"
    return None


def _loose_words(text: str) -> set[str]:
    """content_words with hyphenated words split ("fourth-quarter") and British -tre/-bre spelt
    -ter/-ber ("centres" is "centers"), so a spelling is not taken for another word."""
    text = re.sub(rf"(?<={LETTER})-(?={LETTER})", " ", text)
    return content_words(re.sub(rf"\b({LETTER}+[tb])re(s)?\b", r"\1er\2", text))


class Synonyms:
    """Whether a text uses a word of the same meaning as a given one ("expenditure" for "spending",
    "similar" for "compared"): the cosine of the embedding model's vectors of the two single words,
    at or above `threshold`. Word vectors are kept, so each word is embedded once."""

    _MAX_WORDS = 100_000

    def __init__(self, encode: Callable[[list[str]], np.ndarray], threshold: float):
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be above 0 and at most 1")
        self.encode = encode
        self.threshold = threshold
        self._vectors: dict[str, np.ndarray] = {}

    def _matrix(self, words: list[str]) -> np.ndarray:
        known = self._vectors  # one dict throughout: another answer's thread may replace it when full
        missing = [w for w in words if w not in known]
        if missing:
            if len(known) + len(missing) > self._MAX_WORDS:
                known = self._vectors = {}
            known.update(zip(missing, self.encode(missing)))
        return np.stack([known[w] for w in words])

    def without_synonym(self, words: list[str], text: str) -> list[str]:
        """The words for which no word of `text` (other than the word itself) means the same.

        An antonym is never a synonym, however close its vector ("sold" does not say "bought")."""
        candidates = sorted({w.lower() for w in re.findall(rf"{LETTER}(?:{LETTER}|-){{2,}}", text)})
        if not words or not candidates:
            return list(words)
        vectors = self._matrix([*words, *candidates])
        similarity = vectors[: len(words)] @ vectors[len(words) :].T
        similarity[np.equal.outer(np.array(words, dtype=object), np.array(candidates, dtype=object))] = -1.0
        for i, j in np.argwhere(similarity >= self.threshold):  # few pairs: the table is asked only about these
            if antonyms(words[i], candidates[j]):
                similarity[i, j] = -1.0
        return [w for w, best in zip(words, similarity.max(axis=1)) if best < self.threshold]

    def in_text(self, word: str, text: str) -> bool:
        return not self.without_synonym([word], text)


def _asked_for(question: str) -> set[str]:
    """The words naming what a what/which question asks for ("ticker symbol", "firm"): the line that
    gives the thing need not name its kind."""
    found = _ASKED_FOR.match(question)
    return _loose_words(found.group("words")) if found else set()


def echoed_words(question: str, claim: str, evidence_text: str, synonyms: Synonyms | None = None) -> list[str]:
    """The question's words the claim repeats but its cited lines (and their titles) never use.

    A small model restates the question around whatever the line gives ("Daniel Ives ... edited the
    article" for a line where he praises the investment; "Jane Doe founded the company" for a line
    where she joined it): those words are the claim's, not the line's. Names are left to the name
    rule, figures to the figure rules, units to the answer-type rule, verbs of saying to the line
    (it is the report), words framing the question in time or extent ("latest", "overall"), and
    what a what/which question asks for ("ticker symbol") to the judge. A word the lines say in other words (`synonyms`) is theirs."""
    left_to_others = (_loose_words(" ".join(names(question) | names(claim)))
                      | _GENERIC_QUESTION_WORDS | _UNIT_WORDS | _REPORTING_WORDS | _FRAMING_WORDS)
    # What a what-question asks for may go unnamed when the answer is a thing ("NYSE: BABA" is the
    # ticker symbol), but a figure is only the answer when the line says what it measures: "earnings
    # per share was ¥48.9 billion" for a line giving ¥48.9 billion of net income is not.
    asked_for = _asked_for(question)
    if numbers(claim) - numbers(question):
        asked_for &= _MEASURE_WORDS
    evidence = _loose_words(evidence_text) | asked_for
    echoed = _as_written(question, (_loose_words(claim) & _loose_words(question)) - evidence - left_to_others)
    if echoed:  # "wrote" for the line's "written"; most sentences echo nothing, so the lines' lemmas wait
        said = lemmas(evidence_text)
        echoed = [word for word in echoed if not lemmas(word) & said]
    return synonyms.without_synonym(echoed, evidence_text) if synonyms else echoed


def _as_written(question: str, stems: set[str]) -> list[str]:
    """The question's words (lower case, as written) whose stems are `stems`."""
    surface = {}
    for word in re.findall(rf"{LETTER}(?:{LETTER}|['’])*", question.replace("-", " ")):
        for stem in _loose_words(word) & stems:
            surface.setdefault(stem, word.lower())
    return sorted(surface.values())


def mentions(text: str, name: str) -> bool:
    """Whether the text names `name` (lower case): as a word, as the start of a longer word from the
    same stem ("China" in "Chinese"), or as the initials of capitalised words ("US" for "United States",
    "NYSE" for "New York Stock Exchange")."""
    lowered = text.lower()
    if re.search(rf"\b{re.escape(name)}\b", lowered) or re.search(rf"\b{re.escape(name)}\b", lowered.replace(".", "")):
        return True  # "US" in "U.S." too
    if len(name) >= 5 and re.search(rf"\b{re.escape(name[:-1])}", lowered):
        return True
    if 2 <= len(name) <= 5:
        capitals = re.findall(rf"\b{UPPER}{LETTER}*(?:\s+(?:of\s+)?{UPPER}{LETTER}*)*", text)
        return any("".join(w[0] for w in run.split() if w[0].isupper()).lower() == name for run in capitals)
    return False


def _names_of(text: str, document_text: str) -> set[str]:
    """names(text), plus its first word when the document uses that word as a name elsewhere
    ("Amazon plans ..." names Amazon; "Sales rose ..." names nothing)."""
    found = names(text)
    first = re.match(rf"\W*({UPPER}{LOWER}+)\b", text)
    if first and first.group(1).lower() in _document_names(document_text):
        found.add(first.group(1).lower())
    return found


@lru_cache(maxsize=64)
def _document_names(document_text: str) -> frozenset[str]:
    """Every name in a document, sentence by sentence, so a possessive at the start of a sentence
    ("Meta's committing $65 billion") counts too."""
    return frozenset(name for line in document_text.split("\n") for s in split_sentences(line) for name in names(s.text))


def _lead_words(text: str, figure: Quantity) -> set[str]:
    """The last few content words before a figure in its sentence: what it is a figure of."""
    sentence_start = max((s.start for s in split_sentences(text) if s.start <= figure.start), default=0)
    return set(word_sequence(text[sentence_start : figure.start])[-_LEAD_WORDS:])


def _swapped(claim: str, figure: Quantity, lines_text: str, matches: list[Quantity], held: list[Quantity]) -> bool:
    """The claim puts a figure where the line has another one: the words leading to it in the claim
    ("net income reached") lead to a different figure of the same kind in the line ("net income
    hitting ¥48.9 billion"), and none of them lead to this one."""
    context = _lead_words(claim, figure)
    if not context or any(context & _lead_words(lines_text, q) for q in matches):
        return False
    return any(context & _lead_words(lines_text, q) for q in held if q.kind == figure.kind and q.value != figure.value)


def _part_of_a_name(text: str, figure: Quantity) -> bool:
    """A number glued to letters is part of a name, not a figure: Q4, H1, 5G, GPT-4, 4th."""
    before = text[max(0, figure.start - 2) : figure.start]
    after = text[figure.end : figure.end + 1]
    return bool(re.search(rf"{LETTER}-?$", before)) or after.isalpha()


def _initials_in(claim: str, name: str, lines_text: str) -> bool:
    """Whether the lines give the initials of the run of capitalised words holding `name` in the claim."""
    for run in re.findall(rf"\b{UPPER}{LETTER}*(?:\s+(?:of\s+)?{UPPER}{LETTER}*)+", claim):
        words = [w for w in run.split() if w[0].isupper()]
        if name in (w.lower() for w in words) and mentions(lines_text, "".join(w[0] for w in words).lower()):
            return True
    return False


def _subjects_of(text: str, figure: Quantity, document_text: str) -> set[str]:
    """Who a figure is about: the names in its clause before it ("Meta has allocated $65 billion");
    acronyms of two letters ("AI", "US") are topics, not subjects."""
    clause_start, _ = _clause_bounds(text, figure.start, figure.end)
    clause = text[clause_start : figure.start].strip(" ,;")
    return _subject_names(_names_of(clause, document_text), clause)


def _subject_names(found: set[str], text: str) -> set[str]:
    """The names that may be subjects: two-letter acronyms ("AI", "US") are topics, not subjects, but
    a two-letter surname ("Ma", "Wu", "Xi") is a person."""
    return {n for n in found if len(n) > 2 or re.search(rf"\b{n[0].upper()}{n[1:]}\b", text)}


# A name owning the figure that follows it: "Alibaba's $52 billion bet", "Meta’s planned $65 billion".
_OWNER = re.compile(rf"\b({UPPER}{ALNUM}*(?:\s+{UPPER}{ALNUM}*)*)['’]s\s+(?:{LOWER}+\s+){{0,2}}$")


def _bound_to(subjects: set[str], text: str, figure: Quantity, document_text: str) -> bool:
    """Whether the line may give `figure` for the subjects: a name owning it ("Alibaba's $52 billion
    bet") is one of them, or, when none does, the clause holding it names one of them ("a 68% surge
    in Alibaba's stock") or names nobody ("with revenue rising 8%"). "With competitors like ByteDance
    also making noteworthy investments, Alibaba's $52 billion bet ..." gives it for Alibaba alone."""
    owner = _OWNER.search(text, max(0, figure.start - 80), figure.start)
    if owner:
        return bool(_subject_names(_names_of(owner.group(1), document_text), owner.group(1)) & subjects)
    start, end = _clause_bounds(text, figure.start, figure.end)
    clause = text[start:end].strip(" ,;")
    others = _subject_names(_names_of(clause, document_text), clause)
    return not others or bool(others & subjects)


def answer_type_missing(question: str, claim: str) -> str | None:
    """A how-much, how-many or when question answered without any number (or date words), a
    question in one currency (or in percent) answered in another, a how-many question answered
    with only money or percentages, a how-much question about an amount answered with only a
    percentage, a who-question naming nobody."""
    # A unit inside a figure the question states ("dip by as much as 3%") is context, not what it asks for.
    units = [m.group(0).lower() for m in _UNITS.finditer(mask_quantities(question))]
    asked = {q.currency or q.kind for unit in units for q in quantities("1" + ("" if unit == "%" else " ") + unit)}
    given = {q.currency or q.kind for q in quantities(claim)}
    if asked and not asked & given:
        return f"it gives no figure in {', '.join(sorted(asked))}, which the question asks for"
    # "Over the next three years" counts years, not the data centres a how-many question asks about.
    how_many = bool(_HOW_MANY.search(question))
    counted = claim if not how_many or _HOW_MANY_TIME.search(question) else _TIME_SPAN.sub(" ", claim)
    outside_figures = counted  # "million" of "$1.4 million" counts nothing
    for figure in reversed(quantities(counted)):
        outside_figures = outside_figures[: figure.start] + " " + outside_figures[figure.end :]
    counts = any(q.kind == "count" for q in quantities(counted)) or bool(_NUMBER_WORDS.search(outside_figures))
    if how_many and given - {"count"} and not counts and not asked:
        return "it gives an amount of money or a percentage, not a number of things, which the question asks for"
    if (_HOW_MUCH_AMOUNT.search(question) and not _CHANGE_OR_SHARE.search(question) and not asked
            and given and given <= {"%"}):
        return "it gives only a percentage, not the amount the question asks for"
    has_figure = bool(numbers(counted)) or bool(_NUMBER_WORDS.search(counted))
    if (_HOW_MUCH.search(question) or _WHEN.search(question)) and not has_figure and not (
        _WHEN.search(question) and _MONTHS.search(claim)
    ):
        return "it gives no figure or date, which the question asks for"
    if _WHO.search(question) and not (names(claim) - names(question)) and not re.search(rf"\b{UPPER}{LOWER}+", claim[1:]):
        return "it names nobody, which the question asks for"
    return None


# Words of degree and their opposites, as comparatives and superlatives (a base form, "high",
# "low", is too often part of a name or a term: "high school", "low tone").
_OPPOSITE_DEGREES = [
    ("highest higher", "lowest lower"), ("largest larger biggest bigger", "smallest smaller"),
    ("longest longer", "shortest shorter"), ("tallest taller", "shortest shorter"),
    ("deepest deeper", "shallowest shallower"), ("oldest older eldest elder", "youngest younger newest newer"),
    ("earliest", "latest"), ("best better", "worst worse"), ("fastest faster", "slowest slower"),
    ("heaviest heavier", "lightest lighter"), ("widest wider", "narrowest narrower"),
    ("thickest thicker", "thinnest thinner"), ("hottest hotter warmest warmer", "coldest colder coolest cooler"),
    ("richest richer", "poorest poorer"), ("strongest stronger", "weakest weaker"), ("wettest wetter", "driest drier"),
    ("nearest nearer closest closer", "farthest farther furthest further"), ("maximum", "minimum"),
    ("northernmost", "southernmost"), ("easternmost", "westernmost"),
]


def _words_of(forms: str, text: str) -> list[str]:
    return [w for w in forms.split() if re.search(rf"\b{w}\b", text, re.I)]


def opposite_asked(question: str, claim: str, evidence_text: str) -> str | None:
    """A question asking for one end of a scale ("the shallowest hypersaline lake") answered by a
    sentence whose words and cited lines give only the other end ("the deepest hypersaline lake"):
    it answers the opposite question."""
    said = f"{claim}\n{evidence_text}"
    for first, second in _OPPOSITE_DEGREES:
        for asked, opposite in ((first, second), (second, first)):
            in_question, in_said = _words_of(asked, question), _words_of(opposite, said)
            if in_question and in_said and not _words_of(asked, said) and not _words_of(opposite, question):
                return f"it says {in_said[0]}, where the question asks for {in_question[0]}"
    return None


# A question about what is not so ("which act is not usually counted"), outside quotes and set phrases.
_NEGATED = re.compile(r"\b(?:not|never)\b|n['’]t\b", re.I)
_NOT_A_NEGATION = re.compile(r"\bwhether or not\b|\bnot only\b|[\"“][^\"”]*[\"”]|``.*?''", re.I)
# Words that say something is not so, or is left out.
_NEGATIVE = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|except|excluding|excluded|other than|rather than|instead|cannot|"
    r"nobody|nothing|lacks?|lacking|absent|missing|outside|fails?|failed|refused|declined|rejected|omitted|apart)\b|n['’]t\b",
    re.I,
)


def negation_unanswered(question: str, claim: str, evidence_text: str) -> str | None:
    """A question asking what is not so ("which british act is not usually counted as one of the
    townshend acts") answered by a sentence whose words and cited lines negate nothing: they tell
    what is so (the acts counted), which does not say what is not."""
    if not _NEGATED.search(_NOT_A_NEGATION.sub(" ", question)):
        return None
    if _NEGATIVE.search(f"{claim}\n{evidence_text}"):
        return None
    return "the cited lines say nothing is not so, and the question asks what is not"


# "Besides X and Y, what other ...", "which mountains other than the Catskills": the things set aside.
_SET_ASIDE = re.compile(r"\b(?:besides|other than|apart from|aside from|except for|except|in addition to)\s+", re.I)
_ASKING = re.compile(r",?\s*\b(?:what|which|who|whom|whose|where|when|how|why)\b|[?;]", re.I)
_ITEM_BREAK = re.compile(r"\s*(?:,|&|\band\b|\bor\b)\s*", re.I)
# A sentence's list of things: its parts between commas and "and"/"or".
_LIST_BREAK = re.compile(r"\s*(?:[,;]|\b(?:and|or|nor|as well as)\b)\s*", re.I)
# Words before a thing set aside that set it aside in the sentence too ("besides the Godavari").
_ALONGSIDE = re.compile(r"\b(?:besides|other than|apart from|aside from|in addition to|as well as|along with|alongside|"
                        r"together with|like|not only|not just|beyond|except|plus)\b", re.I)
_LIST_MEMBER_WORDS = 5


def _set_aside(question: str) -> list[list[str]]:
    """The things a question asks for something besides, each as its stemmed content words: up to
    the question word when the phrase opens the question ("Besides X, Y and Z, what ..."), else up
    to the next comma or the end."""
    items = []
    for found in _SET_ASIDE.finditer(question):
        rest = question[found.end():]
        opening = not question[:found.start()].strip()
        end = _ASKING.search(rest) if opening else re.search(r"[,?;]", rest)
        for item in _ITEM_BREAK.split(rest[:end.start()] if end else rest):
            words = word_sequence(item)
            if 0 < len(words) <= 4:
                items.append(words)
    return items


def _mention_at(text: str, items: list[list[str]]) -> int | None:
    """Where in `text` a thing set aside is first mentioned (its stems in order), or None."""
    words = [(m.start(), stems[0]) for m in re.finditer(rf"{ALNUM}+(?:['’-]{ALNUM}+)*", text)
             if (stems := word_sequence(m.group()))]
    stems = [stem for _, stem in words]
    found = [i for item in items for i in range(len(stems) - len(item) + 1) if stems[i:i + len(item)] == item]
    return words[min(found)][0] if found else None


def set_aside_answered(question: str, claim: str) -> str | None:
    """A question asking for something besides what it names ("apart from holy water and olive
    oil, what else ...") answered by a sentence giving only those things ("mixing the ashes with holy
    water or olive oil"): it answers the question without its "besides". The sentence answers when
    it sets them aside too ("besides the Godavari, the Mahanadi ..."), lists another thing beside
    them ("the Godavari, the Krishna and the Mahanadi"), or names another thing before them in the
    same part ("the Mahanadi is longer than the Narmada but shorter than the Godavari")."""
    items = _set_aside(question)
    if not items:
        return None
    asked = set(word_sequence(question))
    parts = [part for part in _LIST_BREAK.split(strip_markers(claim)) if part.strip()]
    at = [_mention_at(part, items) for part in parts]

    def another_thing(i: int) -> bool:
        words = word_sequence(parts[i]) if 0 <= i < len(parts) and at[i] is None else []
        return 0 < len(words) <= _LIST_MEMBER_WORDS and any(word not in asked for word in words)

    plain = another = aside = False
    for i, part in enumerate(parts):
        if at[i] is None:
            aside = False
            continue
        before = part[:at[i]]
        # A thing set aside in the sentence too, or in a list that follows one so set aside.
        aside = bool(_ALONGSIDE.search(before)) or (aside and len(word_sequence(part)) <= _LIST_MEMBER_WORDS)
        named_before = any(not set(word_sequence(name)) <= asked for name in names(before))
        if another_thing(i - 1) or another_thing(i + 1) or named_before:
            another = True
        elif not aside:
            plain = True
    if not plain or another:
        return None
    return "it gives only what the question sets aside, and the question asks for another"


def asked_thing_missing(question: str, claim: str, evidence_text: str, synonyms: Synonyms | None = None) -> str | None:
    """What a who/which question asks for, missing from its answer:
    - a person named for a who-question asking for a role (a chief executive, an analyst) whom
      neither the sentence nor the cited sentences naming them give that role;
    - a which/what question asking for a kind of thing only a name gives (a country, a firm, a
      cloud service) answered with no name the question does not already hold ("Alibaba Cloud ...
      saw an 11% revenue increase" for "Which US cloud service is Alibaba's cloud business compared to?").
    """
    role = _asked_role(question)
    if role:
        return _role_missing(question, claim, evidence_text, role, synonyms)
    found = _ASKED_FOR.match(question)
    if found and _asked_kinds(found) & _NAMED_KINDS and not _new_names(question, claim, evidence_text):
        return "it names nothing the question does not, and the question asks which one"
    return None


def about_something_else(question: str, claim: str, evidence_text: str, synonyms: Synonyms | None = None) -> str | None:
    """A sentence about another person or another figure than the question's:
    - someone the cited lines do not give the role of the person the question is about ("Ivan Su
      from Morningstar adds ..." for "How did the company's boss characterise ..."), said by the
      sentence or by its lines;
    - a figure given for a what-question whose words for what it measures ("earnings per share")
      neither the sentence nor the cited sentences giving the figure use: it is a figure of
      something else ("the stock has gained 68%").
    Unlike a sentence that only lacks the answer, such a sentence is not context for one that gives it.
    """
    if _asked_role(question):
        return None
    new_names = _new_names(question, claim, evidence_text)
    subject = _subject_role(question)
    # The lines count as well as the sentence: "This massive financial shift indicates ..." names no
    # one, but its line is the analyst's, who is not the boss.
    if (subject and (new_names or _new_names(question, evidence_text, evidence_text))
            and not _holds_role(claim + "\n" + evidence_text, question, subject, synonyms)):
        return f"it is about someone the cited lines do not call the {' '.join(_as_written(question, subject))}, whom the question asks about"
    found = _ASKED_FOR.match(question)
    if not found or _asked_kinds(found) & _NAMED_KINDS:
        return None
    asked_for = set().union(*(_loose_words(w) for w in found.group("words").split()))
    # The answer is a figure when the sentence adds one and no name ("BABA" answers a ticker question
    # in a sentence that also gives $53 billion).
    measured = asked_for - _MEASURE_WORDS - _GENERIC_QUESTION_WORDS
    if _YEAR.search(claim) or _MONTHS.search(claim):
        measured -= _TIME_WORDS
    new_figures = {q.number for q in quantities(claim) if not _part_of_a_name(claim, q)} - numbers(question)
    if found.group("wh").lower() == "what" and measured and new_figures and not new_names:
        # What the figure is of: the sentence's words, and those of the line's sentences holding the figure.
        around = "\n".join([claim] + [s.text for s in split_sentences(evidence_text) if numbers(s.text) & new_figures])
        unsaid = _as_written(question, measured - _loose_words(around))
        if synonyms is not None and len(unsaid) == len(measured):
            unsaid = synonyms.without_synonym(unsaid, around)
        if len(unsaid) == len(measured):
            return f"it does not say its figure is of {' or '.join(unsaid)}, which the question asks for"
    return None


def _asked_kinds(found: re.Match) -> set[str]:
    """The words for the kind of thing a which/what question asks for: all of "Which US cloud
    service ...", only the first of "What company ..." (not "What keeps Chinese firms ...", where
    "what" is the subject)."""
    asked_words = [_loose_words(w) | content_words(w) for w in found.group("words").split()]  # "start-ups" whole too
    return set().union(*asked_words) if found.group("wh").lower() == "which" else asked_words[0]


def _asked_role(question: str) -> set[str]:
    """The role words of "Who is the chief executive of ...", "Who is Alibaba's CEO?"; none for
    "Who is Eddie Wu?" or "Who makes the Qwen models?"."""
    found = _ASKED_ROLE.match(question)
    return _loose_words(found.group("words")) & _ROLES if found else set()


def _role_missing(question: str, claim: str, evidence_text: str, role: set[str], synonyms: Synonyms | None) -> str | None:
    """A person named in answer to a who-question about a role, where neither the sentence nor the
    cited sentences naming them give them that role (or a word meaning it): someone else on the
    page ("Ivan Su from Morningstar says ..." for "Who is the chief executive of Alibaba Group?")."""
    new_names = _new_names(question, claim, evidence_text)
    if not new_names:
        return None  # answer_type_missing speaks of answers naming no one
    around = "\n".join([claim] + [s.text for s in split_sentences(evidence_text) if any(name in s.text for name in new_names)])
    if _holds_role(around, question, role, synonyms):
        return None
    return f"it does not say who is the {' '.join(_as_written(question, role))}, which the question asks"


def _subject_role(question: str) -> set[str]:
    """The role words of a question whose subject is a person by role ("the company's boss")."""
    found = _SUBJECT_ROLE.match(question)
    return _loose_words(found.group("words")) & _ROLES if found else set()


def _holds_role(text: str, question: str, role: set[str], synonyms: Synonyms | None) -> bool:
    """Whether the text gives the role: its words as the question writes them, another word for
    leading an organisation when the role is one, or a word of the same meaning."""
    written = _as_written(question, role)
    if any(mentions(text, word) for word in written):
        return True
    if _LEADERS.intersection(written) and _LEADERS.intersection(re.findall(r"[a-z]+", text.lower())):
        return True
    return _said_otherwise(written, text, synonyms)


def _new_names(question: str, claim: str, evidence_text: str) -> list[str]:
    """The claim's capitalised runs that are not the question's: a run holding a name the question
    gives ("Alibaba Cloud" for a question about Alibaba) is part of what it asks about, and so is a
    run of the question's own words ("Cloud Service"). Two-letter acronyms ("AI") are topics; the
    sentence's first word counts only when the lines use it as a name, or it is capitalised inside
    ("OpenAI")."""
    asked_names, asked = names(question), _loose_words(question)
    found = []
    for match in _NAME_RUN.finditer(claim):
        run = match.group(0)
        if match.start() == len(claim) - len(claim.lstrip(" \"“(")) and " " not in run:
            word = re.sub(r"['’]s$", "", run)
            if word[1:].islower() and word.lower() not in names(evidence_text):
                continue
        words = [re.sub(r"['’]s$", "", w) for w in run.split() if w[0].isupper() or w[0].isdigit()]
        if any(w.lower() in asked_names for w in words) or all(_loose_words(w) <= asked for w in words):
            continue
        if all(len(w) <= 2 and w.isupper() or w in NOT_NAMES or _loose_words(w) <= _UNIT_WORDS for w in words):
            continue  # "AI", "US" are topics; "RMB", "EUR" units
        found.append(run)
    return found


def subject_missing(question: str, claim: str, evidence_text: str, frequencies: DocumentFrequencies | None = None,
                    synonyms: Synonyms | None = None, document_text: str = "") -> str | None:
    """An answer that is not about what the question asks about, or only repeats the question:
    - a question about named things (Ming-Chi Kuo, Tencent, or "new york" typed in lower case, a
      word the corpus writes as a name) answered by a sentence whose words and cited lines name none of them;
    - a question naming a document's title ("the winner of the rap game") answered from a document
      (`document_text`, the cited documents' whole text) that never names it (a lottery's prizes);
    - a question whose most specific words (the two the corpus uses least, among words at most 2%
      of its documents use) the sentence, its cited lines and their titles never use ("what does
      shubin call the regulatory gene" answered with a line on body segments);
    - a question in lower case (as people type them) whose words the sentence and its cited lines
      never use ("what led to a decline in great zimbabwe" answered about Nigeria's mining);
    - a sentence that adds no word to the question ("Where Are You Going, Where Have You Been").
    A word said in another form or other words (`synonyms`: "divided" for "division") is said.
    """
    said = claim + "\n" + evidence_text
    asked = _subject_names(names(question), question)
    # Names many documents use ("the United States", "British") set the scene: when the question
    # names only such, the cited document naming one will do.
    scene = said + "\n" + document_text if asked and all(_common_name(n, frequencies) for n in asked) else said
    if asked and not any(mentions(scene, name) for name in asked):
        return f"it is not about {', '.join(sorted(asked))}, which the question asks about"
    typed = frequencies.names_in_lower_case(question) if frequencies is not None else []
    if typed and not any(mentions(said, name) for name in typed):
        return f"it is not about {', '.join(typed)}, which the question asks about"
    titled = frequencies.titles_named(question) if frequencies is not None else []
    if titled and not any(holds_words(f"{said}\n{document_text}", title) for title in titled):
        return f"it is not about {', '.join(titled)}, which the question asks about"
    if frequencies is not None:
        specific = set(frequencies.most_specific(question, _SPECIFIC_WORDS, _SPECIFIC_SHARE, _GENERIC_QUESTION_WORDS))
        if specific and not specific & content_words(said):
            words = sorted({w.lower() for w in re.findall(rf"{LETTER}(?:{LETTER}|['’-])*", question) if content_words(w) & specific})
            # "wrote" is the sentence's "written": irregular forms a stemmer keeps apart.
            if not lemmas(" ".join(words)) & lemmas(said) and not _said_otherwise(words, said, synonyms):
                return f"it does not speak of {' or '.join(words)}, which the question is about"
    topic = content_words(question) - _GENERIC_QUESTION_WORDS
    if not asked and topic and not topic & content_words(said):
        topic_words = [w for w in re.findall(f"{LETTER}+", question) if content_words(w) & topic]
        if not lemmas(" ".join(topic_words)) & lemmas(said) and not _said_otherwise(topic_words, said, synonyms):
            return "it is not about what the question asks about"
    # (A choice question, "is Wellington in the North or South Island", is answered by repeating a part.)
    # Words that only name or frame add nothing: "Salicylic acid is commonly known as salicylic acid."
    added = content_words(claim) - content_words(question) - _NAMING_WORDS
    if content_words(claim) and not added and not _CHOICE.search(question):
        return "it only repeats the question"
    return None


def _common_name(name: str, frequencies: DocumentFrequencies | None) -> bool:
    """Whether every word of a name is used by more than 2% of the documents, and by 10 or more (in
    a corpus of five articles every word is in 20% of them, and no name is common for that)."""
    words = content_words(name)
    if frequencies is None or not words:
        return False
    counts = [frequencies.counts.get(w, 0) for w in words]
    return all(n >= _COMMON_DOCUMENTS and n > _SPECIFIC_SHARE * frequencies.documents for n in counts)


def _said_otherwise(words: list[str], text: str, synonyms: Synonyms | None) -> bool:
    """Whether the text has a word meaning one of `words` (lower case)."""
    words = [w.lower() for w in words]
    return synonyms is not None and len(synonyms.without_synonym(words, text)) < len(words)


def _answer_in_place(question: str, claim: str, evidence: list[LineEvidence]) -> bool:
    """A short answer ("Eddie Wu.") copied word for word from a sentence that uses most of the
    question's words ("Eddie Wu, Alibaba's CEO, ...") is stated by it: the question supplies the
    rest of the claim. A judge asked about two words alone guesses (p near 0.5 either way); a
    copied word from a line the question is not about ("HACKED") stays with the judge."""
    words = content_words(claim)
    if not 0 < len(words) <= _FRAGMENT_WORDS:
        return False
    asked = content_words(question) - words - _GENERIC_QUESTION_WORDS - _asked_for(question)
    if not asked:
        return False
    for found in evidence:
        copied = ordered_coverage(claim, found.text[found.start : found.end]) == 1.0
        if copied and len(asked & content_words(found.window)) / len(asked) >= _FRAGMENT_QUESTION_COVERAGE:
            return True
    return False


def restating_sentence(question: str, claim: str, evidence: list[LineEvidence], echoed: tuple[str, ...]) -> LineEvidence | None:
    """The one sentence of the cited lines that holds all a claim adds to the question, when the
    claim put it in the question's words ("Lake Kariba was formed by flooding a gorge on the
    Zambezi River" for the line's "... flooding the Kariba Gorge on the Zambezi River").

    The line's sentence must hold every content word and figure the claim adds, be no table row,
    and be about what was asked: it uses at least half of the question's own words (the share a
    copied short answer's sentence needs, `_answer_in_place`), and more of them than the claim
    took from the question without the line (`echoed`). Daniel Ives "highlights" the investment in
    a sentence using 2 words of "Who edited the article saying Alibaba pours $52 billion into AI?"
    where the claim made up 3; "Jane Doe joined the company" shares one word of "Who founded the
    company?" and lacks the one that asks. A sentence saying the opposite of a word the claim made up
    ("filled" for the question's "drained") answers another question. Returned as evidence pointing
    at that sentence."""
    added = content_words(claim) - content_words(question) - _GENERIC_QUESTION_WORDS - _REPORTING_WORDS - _FRAMING_WORDS
    asked = content_words(question) - _GENERIC_QUESTION_WORDS
    if not added or not asked:
        return None
    figures = numbers(claim)
    opposed = frozenset().union(*(opposites(word) for word in echoed))
    for found in evidence:
        sentences = split_sentences(found.text)
        for i, sentence in enumerate(sentences):
            words = content_words(sentence.text)
            held = len(asked & words)
            if (
                len(sentence.text) <= _BARE_ANSWER_SENTENCE_CHARS
                and added <= words
                and figures <= numbers(sentence.text)
                and held / len(asked) >= _FRAGMENT_QUESTION_COVERAGE
                and held > len(echoed)
                and not any(word_forms(word) & opposed for word in _content_tokens(sentence.text))
            ):
                window = sentence.text if i == 0 else f"{sentences[i - 1].text} {sentence.text}"
                return replace(found, start=sentence.start, end=sentence.end, window=window)
    return None


def _turning_words(text: str) -> set[str]:
    """Short words that turn a sentence around while its content words stay the same: negations,
    and "by" of a passive ("is outperformed by")."""
    return {w.lower().replace("’", "'") for w in re.findall(r"\b(?:not|no|never|without|by|n['’]t)\b|n['’]t\b", text, re.I)}


def word_coverage(claim: str, evidence_text: str) -> float:
    """Share of the claim's content words found in the evidence."""
    words = content_words(claim)
    return len(words & content_words(evidence_text)) / len(words) if words else 0.0


def ordered_coverage(claim: str, evidence_text: str) -> float:
    """Share of the claim's words found in the evidence in the same order (longest common
    subsequence), so words recombined from different parts of a line do not count as a quote."""
    claim_words, evidence_words = word_sequence(claim), word_sequence(evidence_text)
    if not claim_words:
        return 0.0
    previous = [0] * (len(evidence_words) + 1)
    for word in claim_words:
        current = [0]
        for j, other in enumerate(evidence_words):
            current.append(previous[j] + 1 if word == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1] / len(claim_words)


class ClaimJudge:
    """The language model as a judge, one question at a time.

    "states" is a yes/no question (prompts/judge.txt) read as P(yes). "answers" is read off the
    answering prompt itself, shown only the cited lines: the probability that the model would not
    reply "I don't know." to the question. A small model that cannot say whether a sentence answers
    a question (its yes/no probabilities overlap) does tell whether a line lets it answer.
    """

    def __init__(self, llm, prompts_dir: Path, short_labels: bool = True):
        try:
            self.instructions = (Path(prompts_dir) / "judge.txt").read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"prompt template {Path(prompts_dir) / 'judge.txt'} cannot be read ({exc.strerror})") from None
        self.prompts = Prompts(Path(prompts_dir), short_labels)
        self.llm = llm

    def warm_up(self) -> None:
        """Ask one question now, so the instructions are in the model's prompt cache before a user asks."""
        self.states("Is this a warm-up?", "It is.", "It is a warm-up.")

    def states(self, question: str, claim: str, source_text: str) -> float:
        messages = [{"role": "system", "content": self.instructions},
                    {"role": "user", "content": f"Task: states\nQuestion: {question}\nSource: {source_text}\nClaim: {claim}\nVerdict:"}]
        return round(self.llm.yes_probability(messages), 4)

    def answers(self, question: str, lines: list[ContextLine]) -> float:
        messages = self.prompts.messages(question, lines, [])
        return round(1.0 - self.llm.decline_probability(messages, REFUSAL_OPENING), 4)


@dataclass
class StatesVerdict:
    stated: bool
    probability: float  # 1.0 when the claim is near-verbatim; 0.0 when a rule rejects it
    reason: str | None = None
    evidence: list[LineEvidence] = field(default_factory=list)
    verbatim: bool = False  # stated as a quote of the line, without asking the judge
    # The line's own sentence, shown in place of a claim that restated it in the question's words.
    restated: str | None = None

    def whole_sentence(self, claim: str) -> str | None:
        """The whole source sentence to show for a claim that is only a piece of it, or None.

        A quoted fragment ("Field's Market in West Hills" from "Season 1 was shot inside ..., Field's
        Market in West Hills, California."), and a bare answer of a word or two ("Lake Kariba.",
        "Eddie Wu.") whose words the supporting sentence holds, when that sentence is no table row:
        the reader sees the answer in the document's own words, which say what it is the answer to
        ("Lake Kariba is the world's largest man-made lake")."""
        if self.restated:
            return self.restated
        if len(self.evidence) != 1:
            return None
        found = self.evidence[0]
        sentence = found.text[found.start : found.end].strip()
        if len(sentence) <= len(claim):
            return None
        if self.verbatim:
            return sentence if ordered_coverage(claim, sentence) == 1.0 else None
        words = content_words(claim)
        bare = 0 < len(words) < _MIN_QUOTE_WORDS and len(sentence) <= _BARE_ANSWER_SENTENCE_CHARS
        return sentence if bare and words <= content_words(sentence) else None


@dataclass
class AnswersVerdict:
    answers: bool
    probability: float
    reason: str | None = None
    # About another person, figure or topic than the question's: not even context for a sentence that answers.
    elsewhere: bool = False


class ClaimChecker:
    """Decides whether cited lines state a claim and whether the claim answers the question."""

    def __init__(self, judge: ClaimJudge, states_threshold: float, answers_threshold: float, verbatim_coverage: float,
                 synonyms: Synonyms | None = None, encode: Callable[[list[str]], np.ndarray] | None = None,
                 answer_relevance: float = 0.0):
        for name, value in (("states_threshold", states_threshold), ("answers_threshold", answers_threshold),
                            ("verbatim_coverage", verbatim_coverage), ("answer_relevance", answer_relevance)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        self.judge = judge
        self.states_threshold = states_threshold
        self.answers_threshold = answers_threshold
        self.verbatim_coverage = verbatim_coverage
        self.synonyms = synonyms
        if answer_relevance and encode is None:
            raise ValueError("answer_relevance needs an encode function")
        self.encode = encode
        self.answer_relevance = answer_relevance

    @classmethod
    def from_settings(cls, settings: Settings, judge: ClaimJudge, encode: Callable[[list[str]], np.ndarray] | None) -> "ClaimChecker":
        """The checker the service uses: the settings' thresholds, and synonyms from the embedding model's `encode`."""
        synonyms = Synonyms(encode, settings.claim_synonym_similarity) if encode and settings.claim_synonym_similarity else None
        relevance = settings.claim_answer_relevance if encode else 0.0
        return cls(judge, settings.claim_states_threshold, settings.claim_answers_threshold, settings.claim_verbatim_coverage, synonyms,
                   encode, relevance)

    def states(self, question: str, claim: str, evidence: list[LineEvidence], document_text: str, titles: str = "") -> StatesVerdict:
        rule = rule_check(claim, evidence, question, document_text, titles, self.synonyms)
        if rule.echoed:
            # The claim put the line's words in the question's; the line's own sentence may still be
            # shown, checked as a claim of its own (a quote: no rule of the line's words can fail).
            found = restating_sentence(question, claim, evidence, rule.echoed)
            sentence = found.text[found.start : found.end].strip() if found else None
            if sentence and not rule_check(sentence, [found], question, document_text, titles, self.synonyms).reason:
                return StatesVerdict(True, 1.0, None, [found], verbatim=True, restated=sentence)
        if rule.reason:
            return StatesVerdict(False, 0.0, rule.reason, evidence)
        window = " … ".join(e.window for e in evidence)
        # A quote of a word or two ("HACKED", copied from an injected line) says nothing by itself.
        if (
            len(content_words(claim)) >= _MIN_QUOTE_WORDS
            and ordered_coverage(claim, window) >= self.verbatim_coverage
            and _turning_words(claim) <= _turning_words(window)
        ):
            return StatesVerdict(True, 1.0, None, evidence, verbatim=True)
        if _answer_in_place(question, claim, evidence):
            return StatesVerdict(True, 1.0, None, evidence)
        probability = self.judge.states(question, claim, window)
        stated = probability >= self.states_threshold
        return StatesVerdict(stated, probability, None if stated else "the cited line does not state it", evidence)

    def relevance(self, question: str, claim: str, lines: list[ContextLine]) -> float:
        """How close the sentence, or the closer of its cited lines, is to the question: the
        embedding model's cosine. The model was trained on questions and the passages answering
        them; a sentence that answers sits near its question even when another line is nearer."""
        vectors = self.encode([question, claim, *(line.text for line in lines)])
        return float(np.max(vectors[1:] @ vectors[0]))

    def answers(self, question: str, claim: str, lines: list[ContextLine], evidence_text: str = "",
                frequencies: DocumentFrequencies | None = None, document_text: str = "") -> AnswersVerdict:
        """Whether a stated claim answers the question: no rule says it does not, and its cited `lines`
        let the model answer (`evidence_text`: those lines and their titles, `document_text`: their
        documents' whole text, for the rules)."""
        lacking = (answer_type_missing(question, claim) or asked_thing_missing(question, claim, evidence_text, self.synonyms)
                   or opposite_asked(question, claim, evidence_text) or negation_unanswered(question, claim, evidence_text)
                   or set_aside_answered(question, claim))
        if lacking:
            return AnswersVerdict(False, 0.0, lacking)
        elsewhere = (about_something_else(question, claim, evidence_text, self.synonyms)
                     or subject_missing(question, claim, evidence_text, frequencies, self.synonyms, document_text))
        if elsewhere:
            return AnswersVerdict(False, 0.0, elsewhere, elsewhere=True)
        if self.answer_relevance and self.relevance(question, claim, lines) < self.answer_relevance:
            return AnswersVerdict(False, 0.0, "it is too far from what the question asks")
        probability = self.judge.answers(question, lines)
        ok = probability >= self.answers_threshold
        return AnswersVerdict(ok, probability, None if ok else "it does not answer the question")
