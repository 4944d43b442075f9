"""The claim check (rag/check.py): rules without a model, the judge through a fake, and, marked
integration, the real local model on the wrong claims and right answers seen in the field."""

from __future__ import annotations

import pytest

from rag.check import (
    about_something_else,
    opposite_word,
    restating_sentence,
    asked_thing_missing,
    Synonyms,
    ClaimChecker,
    ClaimJudge,
    answer_type_missing,
    echoed_words,
    find_evidence,
    negation_unanswered,
    opposite_asked,
    rule_check,
    set_aside_answered,
    subject_missing,
    word_coverage,
)
from rag.citations import ContextLine
from rag.chunker import document_title
from rag.settings import PROJECT_ROOT, Settings
from rag.text import DocumentFrequencies, lemmas

SEEDS = PROJECT_ROOT / "seeds"
DOCS = {p.name: p.read_text(encoding="utf-8").split("\n") for p in SEEDS.glob("*.txt")}
FREQUENCIES = DocumentFrequencies("\n".join(lines) for lines in DOCS.values())  # as the retriever builds them


def evidence(claim: str, ref: str):
    source, line = ref.split(":")
    return find_evidence(claim, source, int(line), DOCS[source][int(line) - 1])


def cited(ref: str) -> tuple[list[ContextLine], str]:
    """The cited line as the judge reads it, and as the rules read it (with the document's title)."""
    source, line = ref.split(":")
    text = DOCS[source][int(line) - 1]
    return [ContextLine(source, int(line), text)], f"{text}\n{document_title(DOCS[source]) or ''}"


def document(ref: str) -> str:
    return "\n".join(DOCS[ref.split(":")[0]])


def rule(question: str, claim: str, ref: str) -> str | None:
    return rule_check(claim, [evidence(claim, ref)], question, document(ref)).reason


# ------------------------------------------------------------------ rules (no model)


def test_opposite_direction_is_rejected():
    # 003:30 says the stock *rose* 68% ("a marked increase of 68%").
    reason = rule("How did Alibaba's shares do?", "Alibaba shares fell 68% this year.", "003_02a43008e7f09149.txt:30")
    assert reason and "other way" in reason
    assert rule("How did Alibaba's shares do?", "Alibaba's stock rose 68% this year.", "003_02a43008e7f09149.txt:30") is None


def test_a_figure_is_the_subject_its_line_gives_it_to():
    # Answers the model wrote once the answering line was taken out (evals/negative_rejection.py):
    # 001:2 gives 380 billion yuan to "Alibaba Group Holding Ltd." ("Ltd." ends no sentence) ...
    ref = "001_aadfbd5aacc872f0.txt:2"
    claim = "Alphabet plans to invest over 380 billion yuan (approximately $53 billion) toward AI infrastructure."
    reason = rule("How much is Alphabet planning to invest in AI development and infrastructure?", claim, ref)
    assert reason and "something else" in reason
    assert rule("How much is Alibaba planning to invest in AI?", claim.replace("Alphabet", "Alibaba"), ref) is None
    # ... and 003:31 gives $52 billion to its possessive owner, not to ByteDance named earlier in the clause.
    ref = "003_02a43008e7f09149.txt:31"
    reason = rule("How much is ByteDance investing in AI?", "ByteDance is investing $52 billion in AI.", ref)
    assert reason and "something else" in reason
    assert rule("How much is Alibaba investing in AI?", "Alibaba is investing $52 billion in AI.", ref) is None
    # A case it was not built on: a possessive a few words before the figure owns it.
    line = "As Amazon expands its data centres, Meta's planned $65 billion outlay drew less notice."
    for company, stated in (("Amazon", False), ("Meta", True)):
        claim = f"{company} planned a $65 billion outlay."
        reason = rule_check(claim, [find_evidence(claim, "m.txt", 1, line)], f"How big is {company}'s planned outlay?", line).reason
        assert (reason is None) is stated, reason


def test_direction_after_the_figure_counts():
    # 003:75: "a 68% surge in Alibaba's stock".
    assert rule("q?", "Alibaba's stock dropped 68%.", "003_02a43008e7f09149.txt:75")
    assert rule("q?", "Alibaba's stock saw a 68% surge.", "003_02a43008e7f09149.txt:75") is None


def test_figure_given_for_another_subject_is_rejected():
    # 001:18: "Meta has allocated $65 billion"; Amazon is named only in a later sentence.
    reason = rule("How much will Amazon invest?", "Amazon plans to invest approximately $65 billion.", "001_aadfbd5aacc872f0.txt:18")
    assert reason and "something else" in reason
    assert rule("How much will Meta invest?", "Meta has allocated $65 billion.", "001_aadfbd5aacc872f0.txt:18") is None


def test_figures_swapped_within_a_line_are_rejected():
    # 002:6: "revenue rising 8% to ¥280.2 billion ... and net income hitting ¥48.9 billion".
    ref = "002_9fd4f84746180eec.txt:6"
    assert "something else" in rule("q?", "Net income reached ¥280.2 billion.", ref)
    assert "something else" in rule("q?", "Revenue rose 8% to ¥48.9 billion.", ref)
    assert rule("q?", "Revenue rose 8% to ¥280.2 billion.", ref) is None
    assert rule("q?", "Alibaba's net income in the fourth quarter was ¥48.9 billion ($6.45 billion).", ref) is None


def test_a_name_opening_a_sentence_with_a_possessive_is_a_subject():
    # 000:5: "Microsoft's dumping $80 billion into US data centers. Meta's committing $65 billion."
    ref = "000_c7bc9c907a8bee7e.txt:5"
    assert "something else" in rule("q?", "Meta plans to spend $80 billion in 2025.", ref)
    assert rule("q?", "Meta is committing $65 billion.", ref) is None


def test_figure_missing_from_the_line_is_rejected():
    assert "do not give" in rule("q?", "Net income was ¥50.1 billion.", "002_9fd4f84746180eec.txt:6")
    # The same amount written another way is the same figure.
    assert rule("q?", "Net income was 48.9 billion yuan.", "002_9fd4f84746180eec.txt:6") is None


def test_name_the_line_never_mentions_is_rejected():
    # 002:7 never mentions Apple; 002:5 does.
    claim = "Apple is incorporating Alibaba's AI technology into Chinese iPhones."
    assert "apple" in rule("Who uses Alibaba's AI?", claim, "002_9fd4f84746180eec.txt:7")
    assert rule("Who uses Alibaba's AI?", claim, "002_9fd4f84746180eec.txt:5") is None


def test_a_companys_legal_form_is_not_a_name_the_line_must_mention():
    # 003:8 says "Alibaba Group has announced ..."; the model wrote the company's full legal name.
    claim = "Alibaba Group Holding Ltd. has announced an unprecedented $52.44 billion investment in AI."
    assert rule("How much is Alibaba investing?", claim, "003_02a43008e7f09149.txt:8") is None
    assert rule("How much is Alibaba investing?", claim.replace("Alibaba", "Tencent"), "003_02a43008e7f09149.txt:8")
    judge = ScriptedJudge(states=0.1)  # and the whole quote with the legal form added still counts as a quote
    ref = "003_02a43008e7f09149.txt:8"
    claim = claim.replace("in AI.", "in AI and cloud computing infrastructure over the next three years.")
    assert checker(judge).states("How much is Alibaba investing?", claim, [evidence(claim, ref)], document(ref)).stated
    assert judge.calls == []


def test_names_from_the_question_are_left_to_the_judge():
    # "New York Stock Exchange" is in the question; the line says "NYSE".
    claim = "Alibaba's ticker symbol on the New York Stock Exchange is BABA."
    assert rule("What is Alibaba's ticker symbol on the New York Stock Exchange?", claim, "002_9fd4f84746180eec.txt:1") is None


def test_words_the_claim_takes_from_the_question_must_be_on_the_line():
    # 003:56 names Daniel Ives of Wedbush praising the investment; it says nothing of editing.
    claim = "Daniel Ives from Wedbush Securities edited the article saying Alibaba pours $52 billion into AI."
    reason = rule("Who edited the article saying Alibaba pours $52 billion into AI?", claim, "003_02a43008e7f09149.txt:56")
    assert reason and "edited" in reason
    # Cases the rule was not built on: the question's verb is the claim's, not the line's ...
    joined = "Jane Doe joined the company in 1999 as its first engineer."
    claim = "Jane Doe founded the company in 1999."
    found = find_evidence(claim, "history.txt", 4, joined)
    assert "founded" in rule_check(claim, [found], "Who founded the company?", joined).reason
    # ... unless the line says it too, in another form ("founded by", "centres" for "centers").
    founded = "The company was founded by Jane Doe in 1999, and its first data centres opened in 2001."
    found = find_evidence(claim, "history.txt", 4, founded)
    assert rule_check(claim, [found], "Who founded the company?", founded).reason is None
    claim = "The company's first data centers opened in 2001."
    found = find_evidence(claim, "history.txt", 4, founded)
    assert rule_check(claim, [found], "When did the company's first data centers open?", founded).reason is None
    # Nor need it frame the fact in time or extent as the question does (002:6: "fourth-quarter ... revenue rising 8%").
    claim = "Alibaba's overall revenue grew 8% in the latest quarter."
    assert rule("By how much did Alibaba's overall revenue grow in the latest quarter?", claim, "002_9fd4f84746180eec.txt:6") is None
    # What a what/which question asks for need not be named by the line: "NYSE: BABA" gives the ticker.
    claim = "Alibaba's ticker symbol is BABA."
    assert rule("What is Alibaba's ticker symbol?", claim, "002_9fd4f84746180eec.txt:1") is None
    # But a figure answers only when the line says what it measures: 002:6 gives ¥48.9 billion of net
    # income, not earnings per share (seeds: an unanswerable question answered so, and shown).
    claim = "Alibaba's fourth-quarter earnings per share was ¥48.9 billion ($6.45 billion)."
    reason = rule("What were Alibaba's earnings per share in the fourth quarter?", claim, "002_9fd4f84746180eec.txt:6")
    assert reason and "share" in reason
    claim = "Alibaba's net income in the fourth quarter was ¥48.9 billion."
    assert rule("What was Alibaba's net income in the fourth quarter?", claim, "002_9fd4f84746180eec.txt:6") is None
    # Cases not from the seeds: a word that only asks for a figure need not be on the line.
    line = "The council approved a budget of $4.2 million for the new library."
    claim = "The size of the library budget is $4.2 million."
    found = find_evidence(claim, "council.txt", 3, line)
    assert rule_check(claim, [found], "What is the size of the library budget?", line).reason is None
    line = "The library welcomed 4.2 million visitors last year."
    claim = "The library's annual budget was 4.2 million."
    found = find_evidence(claim, "council.txt", 3, line)
    assert "budget" in rule_check(claim, [found], "What is the library's annual budget?", line).reason


def test_a_question_word_the_line_says_in_other_words_is_the_lines(real_embedder):
    synonyms = Synonyms(real_embedder.encode, Settings().claim_synonym_similarity)
    # 001:10 "With the expected expenditure exceeding her previous estimates by 30 billion yuan, ..."
    question = "By how much did Alibaba's planned spending exceed Citigroup's previous estimate?"
    claim, ref = "Alibaba's planned spending exceeded Citigroup's previous estimate by 30 billion yuan.", "001_aadfbd5aacc872f0.txt:10"
    title = document_title(DOCS[ref.split(":")[0]])  # "... Three-Year Plan": "planned" is the title's
    assert "spending" in rule_check(claim, [evidence(claim, ref)], question, document(ref), title).reason
    assert rule_check(claim, [evidence(claim, ref)], question, document(ref), title, synonyms).reason is None
    # No word of 003:56 (Daniel Ives's view of the investment) means "edited".
    claim, ref = "Daniel Ives from Wedbush Securities edited the article saying Alibaba pours $52 billion into AI.", "003_02a43008e7f09149.txt:56"
    reason = rule_check(claim, [evidence(claim, ref)], "Who edited the article saying Alibaba pours $52 billion into AI?",
                        document(ref), synonyms=synonyms).reason
    assert reason and "edited" in reason
    assert synonyms.in_text("founded", "The company was set up by Jane Doe, its founder, in 1999.")
    assert not synonyms.in_text("founded", "Jane Doe joined the company in 1999 as its first engineer.")
    with pytest.raises(ValueError):
        Synonyms(real_embedder.encode, 0.0)
    off = Settings(claim_synonym_similarity=0.0)
    assert ClaimChecker.from_settings(off, ScriptedJudge(), real_embedder.encode).synonyms is None


def test_a_claim_with_the_opposite_word_of_its_line_is_rejected():
    line = "The new weir was built upstream of the old mill in 1911. Its gates stay open in a wet winter."
    claim = "The weir was built downstream of the old mill."
    found = find_evidence(claim, "weir.txt", 2, line)
    assert opposite_word(claim, [found]) == ("downstream", "upstream")
    assert "say upstream, not downstream" in rule_check(claim, [found], "Where was the weir built?", line).reason
    # The same place said the other way round, or a paraphrase that only shares the topic, passes.
    for fine in ("The weir was not built downstream of the old mill.", "The weir's gates stay open when winter is wet.",
                 "The gates are opened in a wet winter, never in a dry summer."):
        assert opposite_word(fine, [find_evidence(fine, "weir.txt", 2, line)]) is None, fine
    negated = "The weir was built upstream of the old mill. Its gates do not stay open in a dry winter."
    assert opposite_word("Its gates stay open in a wet winter.", [find_evidence("gates wet winter", "weir.txt", 2, negated)]) is None


def test_an_antonym_is_never_the_lines_word_for_the_questions(real_embedder):
    # The embedding model puts "east" and "west" at 0.80, above the synonym threshold (0.7).
    synonyms = Synonyms(real_embedder.encode, Settings().claim_synonym_similarity)
    line = "The Arden River flows along the west side of Carlow, past the old mill."
    question = "Which river flows along the east side of Carlow?"
    claim = "The Arden River flows along the east side of Carlow."
    found = find_evidence(claim, "carlow.txt", 4, line)
    reason = rule_check(claim, [found], question, line, synonyms=synonyms).reason
    assert reason and "east" in reason
    assert not synonyms.in_text("alive", "By 1920 the painter was dead.")
    assert not synonyms.in_text("mother", "Her father ran the bakery.")
    # Words that are not opposites still count: "founder" says "founded", "outlay" in other words too.
    assert synonyms.in_text("founded", "The company was set up by Jane Doe, its founder, in 1999.")
    right = "The Arden River flows along the west side of Carlow."
    assert rule_check(right, [find_evidence(right, "carlow.txt", 4, line)], question.replace("east", "west"), line,
                      synonyms=synonyms).reason is None


def test_a_two_letter_surname_is_a_subject_but_an_acronym_is_a_topic():
    # 001:28: "Ma's recent participation in a high-profile summit led by Chinese President Xi Jinping".
    line = DOCS["001_aadfbd5aacc872f0.txt"][27]
    claim = "Ma's recent participation in a high-profile summit led by Chinese President Xi Jinping indicates a recovery."
    assert subject_missing("Who led the summit that Jack Ma recently attended?", claim, line) is None
    assert "wu" in subject_missing("Who led the summit that Eddie Wu recently attended?", claim, line)
    assert subject_missing("Who led the AI summit?", claim, line) is None  # "AI" is what it is about, not whom


def test_the_subject_of_a_documents_title_need_not_be_on_the_line():
    # A page titled "Andre Gunder Frank" speaks of him as "he"; a lower-case question names the show.
    title, line = "Andre Gunder Frank", "He wrote 40 books, the most notable being Capitalism and Underdevelopment in Latin America."
    claim = "Andre Gunder Frank wrote Capitalism and Underdevelopment in Latin America."
    found = find_evidence(claim, "frank.txt", 3, line)
    assert rule_check(claim, [found], "who wrote capitalism and underdevelopment in latin america", f"{title}\n\n{line}", title).reason is None
    # Without the title the name is still a claim the line does not make.
    assert "frank" in rule_check(claim, [found], "who wrote capitalism and underdevelopment in latin america", f"{title}\n\n{line}").reason
    show, shot = "Guy's Grocery Games", "Season 1 was shot inside of an actual grocery store, Field's Market in West Hills, California."
    claim = "Guy's Grocery Games was shot inside Field's Market in West Hills, California."
    found = find_evidence(claim, "ggg.txt", 2, shot)
    assert rule_check(claim, [found], "where do they shoot guy's grocery games", f"{show}\n{shot}").reason is None
    # A name neither the question nor the title gives stays rejected.
    claim = "Bobby Flay shot Guy's Grocery Games inside Field's Market."
    assert "flay" in rule_check(claim, [find_evidence(claim, "ggg.txt", 2, shot)], "where do they shoot guy's grocery games",
                                 f"{show}\n{shot}", show).reason


def test_a_year_the_question_asks_about_must_be_in_the_cited_document():
    line = "The prize was won by Ana Ruiz, the committee said on Monday."
    found = find_evidence("Ana Ruiz won the prize.", "prize.txt", 3, line)
    reason = rule_check("Ana Ruiz won the prize.", [found], "Who won the 2022 prize?", f"The 2021 prize\n\n{line}").reason
    assert reason and "2022" in reason
    assert rule_check("Ana Ruiz won the prize.", [found], "Who won the 2022 prize?", f"The 2022 prize\n\n{line}").reason is None
    # An amount is not a year: "$2000", "2000 yuan".
    for question in ("Who paid $2000 for it?", "Who paid 2000 yuan?"):
        assert rule_check("Ana Ruiz did.", [find_evidence("Ana Ruiz did.", "prize.txt", 3, line)], question, line).reason is None
    # Seeds: the year is in the cited article, not on the line.
    claim = "Alibaba's revenue rose 8% to ¥280.2 billion."
    assert rule("What was Alibaba's revenue in the fourth quarter of 2024?", claim, "002_9fd4f84746180eec.txt:6") is None


def test_a_number_the_question_names_a_thing_by_must_be_in_the_cited_document():
    # ClapNQ dev: "where does the saying to 86 something come from" answered with another saying.
    line = "The Vulgaria draws on sayings such as `` It does no good for all truth to be told '' ."
    claim = "The Vulgaria draws on sayings such as It does no good for all truth to be told."
    found = [find_evidence(claim, "vulgaria.txt", 3, line)]
    reason = rule_check(claim, found, "where does the saying to 86 something come from", f"Vulgaria\n\n{line}").reason
    assert reason == "the cited document never mentions 86, which the question asks about"
    # Not built on: a rounded count is the document's figure; a small number may be written out;
    # a number inside a name ("4od", "Q4") names nothing by itself.
    doc = "Visitors\n\nThe fair drew 1,512 visitors and three bands; Channel 4od showed it in Q4."
    claim = "The fair drew 1,512 visitors."
    found = [find_evidence(claim, "fair.txt", 3, doc.split("\n")[2])]
    for question in ("who counted the 1,500 visitors at the fair", "which 3 bands played at the fair", "when was the fair on 4od"):
        assert rule_check(claim, found, question, doc).reason is None, question
    assert "2,000" in rule_check(claim, found, "who counted the 2,000 visitors at the fair", doc).reason
    assert "27" in rule_check(claim, found, "which band played in episode 27", doc).reason


def test_an_ordinal_the_question_names_a_thing_by_must_be_in_the_cited_document():
    # SQuAD 2.0-style set, round 10: "on her third tour" answered with the first tour's host.
    doc = ("Ida B. Wells\n\nWells took two tours to Europe in her campaign for justice , the first in 1893 and the second in 1894 .\n"
           "Catherine Impey invited her to Britain in 1893 .")
    line = doc.split("\n")[3]
    found = [find_evidence("Catherine Impey.", "wells.txt", 4, line)]
    reason = rule_check("Catherine Impey.", found, "Who invited Ida B. Wells to Britain on her third tour of Europe?", doc).reason
    assert reason == "the cited document never mentions a third tour, which the question asks about"
    assert rule_check("Catherine Impey.", found, "Who invited Ida B. Wells to Britain on her second tour?", doc).reason is None
    # Seen after: a vague sentence about the company, repaired to a seed article that tells of no
    # fourth quarter, was "supported" for a fourth-quarter question; the article that does is kept.
    vague = "Alibaba reported strong results in its cloud unit and keeps investing heavily."
    net_income = "What was Alibaba's net income in the fourth quarter?"
    assert "fourth quarter" in rule(net_income, vague, "003_02a43008e7f09149.txt:33")
    assert rule(net_income, "Net income was ¥48.9 billion ($6.45 billion).", "002_9fd4f84746180eec.txt:6") is None
    # Not built on: the ordinal written as "5th", "season 5" or a Roman numeral; "per second"; "first".
    for question, text in (("who won the fifth season of the voice", "The Voice\n\nSeason 5 was won by Tessanne Chin ."),
                           ("who won the fifth series", "The show\n\nIts 5th series was won by Ana ."),
                           ("when did the second world war end", "War\n\nWorld War II ended in 1945 ."),
                           ("how many metres per second does it fall", "Fall\n\nIt falls 9 metres each 1 s ."),
                           ("who won the first season", "The Voice\n\nJavier Colon won it .")):
        claim = text.split("\n")[2]
        assert rule_check(claim, [find_evidence(claim, "a.txt", 3, claim)], question, text).reason is None, question


def test_a_question_asking_for_one_end_of_a_scale_is_not_answered_by_the_other():
    # SQuAD 2.0-style set, round 10: "the shallowest hypersaline lake" answered with the deepest.
    line = "The Dead Sea is 304 m ( 997 ft ) deep , the deepest hypersaline lake in the world ."
    assert (opposite_asked("What is the shallowest hypersaline lake in the world?", line, line)
            == "it says deepest, where the question asks for shallowest")
    judge = ScriptedJudge(answers=1.0)
    lines = [ContextLine("dead_sea.txt", 7, line)]
    verdict = checker(judge).answers("What is the shallowest hypersaline lake in the world?", line, lines, line)
    assert not verdict.answers and judge.calls == []
    # Not built on: the same end in other forms, both ends, a base form inside a term.
    assert opposite_asked("what is the deepest lake in africa", "Lake Tanganyika is the deepest.", "It is deeper than any other.") is None
    assert opposite_asked("which is the oldest university", "Bologna is older than Oxford, the youngest of the three.",
                          "Bologna is the oldest; Oxford is younger.") is None
    assert opposite_asked("what is the highest mountain in wales", "Snowdon is the highest.", "Snowdon , at 1,085 m , is higher than any other .") is None
    assert opposite_asked("who was the youngest president", "Theodore Roosevelt was the youngest.", "He was 42, younger than any before.") is None
    assert opposite_asked("which planet is closest to the sun", "Mercury is nearest the Sun.", "Mercury is the nearest planet.") is None
    assert opposite_asked("what is the maximum speed", "The top speed is 300 km/h , the minimum 40 .", "max 300, minimum 40") is not None


def test_a_question_about_what_is_not_so_needs_lines_that_negate_something():
    # SQuAD 2.0-style set, round 10: "which act is not usually counted" answered with those counted.
    question = "which british act is not usually counted as one of the townshend acts?"
    line = ("Historians vary slightly as to which acts they include under the heading `` Townshend Acts '' , "
            "but five acts are often mentioned : The Revenue Act of 1767 , the Indemnity Act , the Commissioners of Customs Act .")
    judge = ScriptedJudge(answers=1.0)
    verdict = checker(judge).answers(question, line, [ContextLine("townshend.txt", 5, line)], line)
    assert not verdict.answers and "not" in verdict.reason and judge.calls == []
    # Not built on: lines that negate ("does not", "no", "outside"); "whether or not"; a quoted "not".
    assert negation_unanswered("why is interphase not truly a period of rest", "Interphase is a busy phase.",
                               "However , interphase does not describe a cell that is merely resting ;") is None
    assert negation_unanswered("which planet doesn't have moons", "Venus.", "Venus has no moons .") is None
    assert negation_unanswered("which country is not in the eu", "Norway.", "Norway stays outside the EU .") is None
    assert negation_unanswered("did he ask whether or not to go", "He asked to go.", "He asked to go .") is None
    assert negation_unanswered('who wrote "do not go gentle"', "Dylan Thomas.", "Dylan Thomas wrote the poem .") is None



def test_a_question_asking_for_something_besides_what_it_names_is_not_answered_by_those_things():
    # SQuAD 2.0-style set, round 10 (mutual exclusion): each answered with what the question sets aside.
    for question, claim in (
            ("apart from holy water and olive oil, what else do anglicans mix into ash wednesday ashes as a fixative?",
             "An Anglican website speaks of mixing the ashes with a small amount of holy water or olive oil as a fixative ."),
            ("Other than the Catskills, which mountains does the Delaware River rise in?",
             "The Delaware River rises in two main branches that descend from the western flank of the Catskill Mountains in New York ."),
            ("besides the godavari and the krishna, which other river flowing entirely within india is longer than the narmada?",
             "The Krishna is the third longest river that flows entirely within India, after the Godavari, and the Krishna.")):
        judge = ScriptedJudge(answers=1.0)
        verdict = checker(judge).answers(question, claim, [ContextLine("a.txt", 3, claim)], claim)
        assert not verdict.answers and "sets aside" in verdict.reason and judge.calls == [], question
    # Not built on: another thing in the list, set aside in the sentence too, named before them; not a thing asked.
    rivers = "besides the godavari and the krishna, which other river flowing entirely within india is longer than the narmada?"
    for claim in ("The Godavari, the Krishna and the Mahanadi are all longer than the Narmada.",
                  "Besides the Godavari and the Krishna, the Mahanadi is longer.",
                  "The Mahanadi is longer than the Narmada but shorter than the Godavari."):
        assert set_aside_answered(rivers, claim) is None, claim
    reagent = "Besides sodium carbonate and sodium citrate, what goes into Benedict's reagent?"
    assert set_aside_answered(reagent, "It holds anhydrous sodium carbonate, sodium citrate and copper(II) sulfate.") is None
    assert set_aside_answered(reagent, "Besides sodium carbonate and sodium citrate, Benedict's reagent holds "
                                       "copper(II) sulfate pentahydrate dissolved in water.") is None
    assert set_aside_answered("Other than the Catskills, which mountains does the Delaware rise in?", "It rises in the Poconos.") is None
    assert set_aside_answered("what does the region produce apart from wine?", "It is known for its wine and its cheese.") is None
    assert set_aside_answered("what did he study in addition to law?", "He studied law at Oxford.") is not None
    assert set_aside_answered("what did he study at Oxford?", "He studied law at Oxford.") is None

def test_a_year_answers_a_what_year_question_alone():
    # SQuAD 2.0-style set, round 10: "1886." was held back for not saying its figure is a year.
    question = "In what year was gold discovered in the Johannesburg group of Witwatersrand rocks?"
    line = "of which the Johannesburg group is the most famous , because it was here that gold was discovered in 1886 ."
    assert about_something_else(question, "1886.", line) is None
    # A figure that is no year still has to say what it is of.
    assert "year" in about_something_else("In what year did Beijing begin its clampdown?", "Revenue jumped 8%.", "Revenue jumped 8%.")


def test_figures_repeated_from_the_question_need_only_be_in_the_document():
    claim = "In the fourth quarter of 2024, net income was ¥48.9 billion."
    assert rule("What was net income in the fourth quarter of 2024?", claim, "002_9fd4f84746180eec.txt:6") is None


def test_evidence_is_the_best_matching_sentence_and_its_span_is_exact():
    ref = "001_aadfbd5aacc872f0.txt:18"
    found = evidence("Meta has allocated $65 billion.", ref)
    line = DOCS["001_aadfbd5aacc872f0.txt"][17]
    assert "Meta has allocated $65 billion" in line[found.start : found.end]
    assert [(s.line, s.end_char) for s in found.spans] == [(18, found.end)]
    assert found.window.endswith(line[found.start : found.end])


def test_answer_type_rules():
    assert answer_type_missing("How many employees does Alibaba Cloud have?", "Alibaba invests heavily in AI.")
    assert answer_type_missing("When did the bridge open?", "The bridge crosses the river.")
    assert answer_type_missing("When did the bridge open?", "It opened in the spring.") is None
    assert answer_type_missing("How much did it earn?", "It earned $5 billion.") is None
    assert answer_type_missing("Who runs Alibaba?", "the company is run well.")
    assert answer_type_missing("Who runs Alibaba?", "Eddie Wu runs Alibaba.") is None
    assert answer_type_missing("what is the purpose of the bill of rights", "It limits the monarch's powers.") is None
    # A unit asked for is a unit without a figure; one inside a figure the question states is context.
    assert answer_type_missing("What is the size of the investment in Chinese yuan?", "It is $53 billion.")
    assert answer_type_missing("On which exchange did Alibaba's shares dip by as much as 3%?", "The Hong Kong stock exchange.") is None


def test_a_how_many_question_is_not_answered_with_money():
    assert "not a number of things" in answer_type_missing("how many copies of holes have been sold", "It was sold for $1.4 million.")
    assert answer_type_missing("how many copies of holes have been sold", "It sold 8 million copies.") is None
    assert answer_type_missing("How many percent did shares rise?", "Shares rose 5%.") is None
    # A span of time counts years, not the things asked about (seeds: the $53 billion "over the next
    # three years" given for how many data centres Alibaba will build) ...
    question = "How many new data centers will Alibaba build with the investment?"
    spending = "Alibaba Cloud will invest over $53 billion (380 billion yuan) in AI infrastructure over the next three years."
    assert "not a number of things" in answer_type_missing(question, spending)
    assert "no figure" in answer_type_missing(question, "Data centers grew for six consecutive quarters.")
    assert answer_type_missing(question, "Alibaba will build 12 new data centers over the next three years.") is None
    # ... unless time is what the question counts.
    assert answer_type_missing("How many years will the $53 billion plan last?", spending) is None


def test_a_how_much_question_about_an_amount_is_not_answered_with_a_percentage():
    # Seeds: "Revenue jumped 8% in the latest quarter" given for how much revenue Alibaba Cloud reported.
    assert "only a percentage" in answer_type_missing("How much revenue did Alibaba Cloud report?", "Revenue jumped 8% in the latest quarter.")
    assert answer_type_missing("How much revenue did Alibaba Cloud report?", "Cloud revenue rose 13% to RMB 31.74 billion.") is None
    assert "only a percentage" in answer_type_missing("How much does the museum spend on repairs?", "It spends 10 percent of its budget.")
    # A change or a share is given by a percentage.
    assert answer_type_missing("How much has Alibaba's stock risen since the start of 2025?", "The stock gained 68%.") is None
    assert answer_type_missing("By how much did the city's population grow?", "It grew 4% in ten years.") is None
    assert answer_type_missing("how much of the world's cocoa comes from ghana", "Ghana grows 20% of the world's cocoa.") is None


def test_a_question_asking_which_named_thing_needs_a_name_it_does_not_give():
    # Seeds round 5: second answers quoting 002:2 were shown for a which-service and a which-countries question.
    line_2 = "002_9fd4f84746180eec.txt:2"
    claim = ("Alibaba Cloud, the company's fastest-growing division, saw an 11% year-on-year revenue increase in Q4 2024, "
             "with AI-related product revenue achieving triple-digit growth for six consecutive quarters.")
    for question in ("Which US cloud service is Alibaba's cloud business compared to?",
                     "In which countries will Alibaba build its new data centres?"):
        assert "names nothing" in asked_thing_missing(question, claim, cited(line_2)[1])
    question = "Which US cloud service is Alibaba's cloud business compared to?"
    for right in ("Alibaba Cloud is similar to Amazon Web Services.", "AWS."):
        assert asked_thing_missing(question, right, "Alibaba Cloud is often compared to AWS.") is None
    assert asked_thing_missing("Which firm does analyst Charlie Chai work for?", "86Research.",
                               "Charlie Chai from 86Research points to the cloud.") is None
    # The sentence's first word is a name when the lines use it as one.
    assert asked_thing_missing("Which firm is Ivan Su from?", "Morningstar.", "Ivan Su, an analyst at Morningstar, said") is None
    # Not built on: places, people by role, and a "what" that is the question's subject.
    assert asked_thing_missing("Which river flows through the capital?", "The Seine flows through Paris.", "") is None
    assert asked_thing_missing("Which river flows through Paris?", "The river is 777 kilometres long.", "") is not None
    assert asked_thing_missing("Which company is Eddie Wu the chief executive of?", "Eddie Wu leads Alibaba Group.", "") is None
    assert asked_thing_missing("Which company is Eddie Wu the chief executive of?", "Eddie Wu took over in 2023.", "") is not None
    assert asked_thing_missing("What keeps Chinese firms from buying graphics processors?", "Export controls do.", "") is None
    # A start-up is a company: the negative-rejection run showed the investment total for "Which Chinese AI start-ups ...?"
    question = "Which Chinese AI start-ups has Alibaba invested in?"
    assert asked_thing_missing(question, "Alibaba Group has announced a $52.44 billion investment in AI.", "") is not None
    assert asked_thing_missing(question, "Alibaba has invested in Moonshot and Zhipu.", "") is None
    # A currency code is a unit, not a name (seeds round 8: "... to RMB 31.74 billion" for the which-countries question).
    assert asked_thing_missing("Which countries does the bank lend most in?", "Lending rose to EUR 4 billion last year.", "") is not None
    assert asked_thing_missing("Which countries does the bank lend most in?", "It lends most in Spain, worth EUR 4 billion.", "") is None


def test_a_who_question_about_a_role_needs_the_person_named_to_hold_it(real_embedder):
    synonyms = Synonyms(real_embedder.encode, Settings().claim_synonym_similarity)
    ivan_su = "Ivan Su from Morningstar says the investment marks a critical transformation point for Alibaba."
    for question in ("Who is the chief executive of Alibaba Group?", "Who is Alibaba's CEO?"):
        reason = asked_thing_missing(question, ivan_su, cited(IVAN_SU)[1], synonyms)
        assert reason is not None and "the question asks" in reason
    eddie_wu = cited("001_aadfbd5aacc872f0.txt:16")[1]  # "Eddie Wu, Alibaba's CEO, articulated ..."
    assert asked_thing_missing("Who is Alibaba's CEO?", "Eddie Wu.", eddie_wu) is None
    assert asked_thing_missing("Who is the chief executive of Alibaba Group?", "Eddie Wu.", eddie_wu, synonyms) is None
    # Not built on: the role in the line, said of another person; a question naming the person, not a role.
    line = "Art Modell, the team's owner, moved the Browns to Baltimore in 1996, with Bill Belichick as head coach."
    question = "who was the coach of the cleveland browns when they moved to baltimore"
    assert asked_thing_missing(question, "Bill Belichick was the coach.", line, synonyms) is None
    assert asked_thing_missing(question, "Art Modell moved the Browns.", "Art Modell, the team's owner, moved the Browns.",
                               synonyms) is not None
    assert asked_thing_missing("Who is Eddie Wu?", "Eddie Wu is an executive.", "") is None
    analysts = "Bloomberg Intelligence analysts Robert Lea and Jasmine Lyu cautioned that AGI needs breakthroughs."
    assert asked_thing_missing("Who are the Bloomberg Intelligence analysts who cautioned about AGI?",
                               "Robert Lea and Jasmine Lyu cautioned that AGI needs breakthroughs.", analysts, synonyms) is None


def test_a_question_about_a_person_by_role_is_not_answered_by_someone_else(real_embedder):
    # Seeds round 6 (seeds-049): the Morningstar analyst's words given for the company's boss's.
    synonyms = Synonyms(real_embedder.encode, Settings().claim_synonym_similarity)
    question = "How did the company's boss characterise the opening that AI presents?"
    ivan_su = "Ivan Su from Morningstar adds that this investment marks a critical transformation point for Alibaba."
    assert "boss" in about_something_else(question, ivan_su, cited(IVAN_SU)[1], synonyms)
    # The third sentence of the analyst's line names no one; its line is still his.
    nobody = "This massive financial shift indicates a commitment to leveraging AI as a core driver of their business strategy."
    assert "boss" in about_something_else(question, nobody, cited(IVAN_SU)[1], synonyms)
    # The line calls him "CEO": another word for whoever leads the company.
    boss = cited("002_9fd4f84746180eec.txt:3")[1]
    assert about_something_else(question, "Eddie Wu described AI as a once-in-a-generation opportunity.", boss, synonyms) is None
    assert about_something_else(question, "He called it a once-in-a-generation opportunity.", boss, synonyms) is None
    # Not built on: anyone's analysts are not one person; a person the question names is not new.
    analysts = "Wedbush's Daniel Ives said the plan is a game-changer."
    assert about_something_else("How did analysts react to the plan?", analysts, analysts, synonyms) is None
    assert about_something_else("When did the company's founder Jack Ma step down?", "Jack Ma stepped down in 2019.",
                                "Jack Ma stepped down in 2019.", synonyms) is None
    line = "The mayor, Anne Hidalgo, opened the bridge. Engineer Marc Mimram designed it."
    assert about_something_else("What did the city's mayor open?", "Anne Hidalgo opened the bridge.", line, synonyms) is None
    assert "mayor" in about_something_else("What did the city's mayor say?", "Marc Mimram designed the bridge.",
                                           "Engineer Marc Mimram designed it.", synonyms)


def test_a_figure_answers_a_what_question_only_when_it_is_a_figure_of_what_was_asked():
    # Seeds round 5: an unanswerable question answered with another figure of the same line (002:6).
    question = "What were Alibaba's earnings per share in the fourth quarter?"
    claim = "The company's stock has gained over 68% in US markets since the start of 2025."
    assert "share" in about_something_else(question, claim, cited("002_9fd4f84746180eec.txt:6")[1])
    assert about_something_else("What was Alibaba's net income in the fourth quarter?", "¥48.9 billion.",
                                cited("002_9fd4f84746180eec.txt:6")[1]) is None
    # A sentence that names the answer may give other figures too; a word that only asks for a figure is not what it measures.
    assert about_something_else("What is Alibaba's stock ticker on the New York Stock Exchange?",
                                "Alibaba Group (NYSE: BABA) has announced plans to invest $53 billion.", "") is None
    assert about_something_else("What is the size of the investment?", "It is ¥380 billion.", "") is None
    # Not built on.
    line = "The museum received 1.2 million visitors and spent $30 million on repairs."
    assert "budget" in about_something_else("What was the museum's marketing budget?", "The museum received 1.2 million visitors.", line)
    assert about_something_else("What was the museum's repair bill?", "The museum spent $30 million on repairs.", line) is None
    # The line's other sentences do not say what its figure is of.
    line = "The museum's budget was cut. It received 1.2 million visitors."
    assert about_something_else("What was the museum's budget?", "The museum received 1.2 million visitors.", line) is not None
    assert about_something_else("What did the museum spend on repairs?", "$30 million.", line) is None


def test_an_answer_must_use_one_of_the_questions_rarest_words():
    pages = [
        "Neil Shubin\nShubin calls the regulatory gene that controls the segments the Hox gene.",
        "Lancelet\nThe flattened body is divided into pairs of segmented muscle blocks.",
        "Body\nThe body of an animal has segments.",
        "Call\nA call is made by phone to the body.",
    ] + [f"Town {i}\nTown {i} lies on a river; its body of water is a lake." for i in range(96)]
    frequencies = DocumentFrequencies(pages)
    question = "what does shubin call the regulatory gene that controls the body segments"
    # One page in a hundred uses each of four words: all as specific as the second rarest. "body"
    # (99 pages) and "segment" (3) are too common to say what the question is about.
    assert frequencies.most_specific(question, 2, 0.02) == ["control", "gene", "regulatori", "shubin"]
    off_topic = "The flattened body is divided into pairs of segmented muscle blocks."
    reason = subject_missing(question, off_topic, pages[1], frequencies)
    assert reason and "shubin" in reason and "regulatory" in reason
    on_topic = "Shubin calls it the Hox gene."
    assert subject_missing(question, on_topic, pages[0], frequencies) is None
    # A word no document uses is never required (the question may word it differently).
    assert frequencies.most_specific("what is the ticker of the shubin lake", 2, 0.02) == ["shubin"]


def test_irregular_forms_of_the_questions_words_count_as_the_same_word():
    # ClapNQ heldout-b round 6: "written" held back for a question that says "wrote".
    pages = ["Letters\nShe wrote letters home.", "Allen Ginsberg\nThe poem was written by Allen Ginsberg in 1955."] + [
        f"Town {i}\nTown {i} lies on a river; its poem of records is kept in the hall." for i in range(98)]
    frequencies = DocumentFrequencies(pages)
    question = "who wrote howl"  # "wrote" (one page in a hundred) is its rarest word; no page says "howl"
    assert subject_missing(question, "It was written by Allen Ginsberg.", pages[1], frequencies) is None
    assert "wrote" in subject_missing(question, "Allen Ginsberg read it aloud.", "Allen Ginsberg\nThe poem was read aloud.", frequencies)
    # Not built on: a claim's "sang" for the line's "sung"; a word the line does not use in any form.
    line = "The anthem was first sung by the choir in 1931."
    assert echoed_words("who sang the anthem first", "The choir sang the anthem first.", line) == []
    assert echoed_words("who sang the anthem first", "The choir sang the anthem first at dawn.", "The anthem was played.") == ["sang"]
    assert lemmas("Children bought mice") == {"child", "buy", "mouse"}


def test_a_specific_word_said_in_another_form_is_said(real_embedder):
    # ClapNQ heldout-c round 8: "divided into three periods" held back for "three stages of cell division".
    synonyms = Synonyms(real_embedder.encode, Settings().claim_synonym_similarity)
    pages = ["Cell cycle\nThe cell cycle is divided into three periods: interphase, mitosis and cytokinesis.",
             "Diphtheria\nA vaccine against diphtheria was developed in the 1920s.", "Army\nThe division marched north."] + [
        f"Town {i}\nTown {i} has three cells in three stages of plague; the cure is bubonic." for i in range(97)]
    frequencies = DocumentFrequencies(pages)
    question = "what are the three stages of cell division"
    assert frequencies.most_specific(question, 2, 0.02) == ["divis"]
    claim = "The cell cycle is divided into three periods: interphase, mitosis and cytokinesis."
    assert "division" in subject_missing(question, claim, pages[0], frequencies)  # the stems differ: divis, divid
    assert subject_missing(question, claim, pages[0], frequencies, synonyms) is None
    # Not built on: related words are not the same word ("vaccine" is no "cure", "diphtheria" no "plague").
    question = "when was a cure for bubonic plague found"
    claim = "A vaccine against diphtheria was developed in the 1920s."
    assert subject_missing(question, claim, pages[1], None, synonyms) == "it is not about what the question asks about"


def test_a_name_in_letters_beyond_ascii_is_matched_whole():
    # ClapNQ heldout-c round 8: the line's "Petit - Goâve" and the model's "Petit-Goâve" are one name.
    line = "Damage was extensive and affected areas included Port - au - Prince , Petit - Goâve , Léogâne and Jacmel ."
    claim = "Damage was extensive and affected areas included Port-au-Prince, Petit-Goâve, Léogâne and Jacmel."
    found = find_evidence(claim, "haiti.txt", 3, line)
    assert rule_check(claim, [found], "what was the damage of the haiti earthquake", line).reason is None
    claim = claim.replace("Léogâne", "Gonaïves")  # and a name the line does not hold is still caught
    assert "gonaïves" in rule_check(claim, [find_evidence(claim, "haiti.txt", 3, line)], "what was the damage", line).reason


def test_in_a_small_corpus_no_word_is_specific():
    frequencies = DocumentFrequencies("\n".join(lines) for lines in DOCS.values())  # the five seed articles
    assert frequencies.most_specific("What risks does Alibaba face on chips?", 2, 0.02) == []
    assert subject_missing("What risks does Alibaba face?", "Alibaba may be overestimating demand.", DOCS["001_aadfbd5aacc872f0.txt"][0], frequencies) is None


def test_a_question_about_named_things_needs_an_answer_that_names_one():
    assert subject_missing("Which firm does Ming-Chi Kuo work for?", "Ivan Su is at Morningstar.", "Ivan Su from Morningstar adds")
    assert subject_missing("Which firm does Ming-Chi Kuo work for?", "TF International Securities.", "Ming-Chi Kuo, an analyst at TF") is None
    assert subject_missing("what is the purpose of the english bill of rights", "It limits the monarch.", "The Bill of Rights limits the monarch.") is None


def test_a_name_many_documents_use_sets_the_scene_and_the_cited_document_may_give_it():
    # SQuAD 2.0-style set, round 10: "how much cotton was the United States producing by 1850" held
    # back because the line (of the Cotton gin page, which names the United States) does not.
    pages = [f"Page {n}\nA town in the United States." for n in range(12)] + [
        "Cotton gin\nThe gin spread across the United States .\nCotton production expanded to 2.85 million bales in 1850 .",
        "Steve Lazarides\nSteve Lazarides is a dealer .", "Banksy\nBanksy was the goalkeeper for the Easton Cowboys ."]
    frequencies = DocumentFrequencies(pages)
    line = pages[12].split("\n")[2]
    question = "After the cotton gin came in, how much cotton was the United States producing by 1850?"
    assert subject_missing(question, line, f"{line}\nCotton gin", frequencies, document_text=pages[12]) is None
    assert subject_missing(question, line, f"{line}\nCotton gin", frequencies, document_text=line)  # the document never says it
    # A name few documents use is what the question is about: the sentence or its lines must say it.
    banksy = pages[14] + "\nHis dealer was Steve Lazarides ."
    claim = "Banksy was the goalkeeper for the Easton Cowboys."
    assert subject_missing("Which football team did Steve Lazarides play in goal for?", claim, f"{claim}\nBanksy",
                           frequencies, document_text=banksy) == "it is not about lazarides, steve, which the question asks about"
    # In five articles no name is common.
    small = DocumentFrequencies(pages[10:])
    assert subject_missing(question, line, f"{line}\nCotton gin", small, document_text=pages[12])


def test_a_lower_case_question_about_a_name_needs_an_answer_that_names_it():
    # ClapNQ dev: "who founded the new york colony and why" answered with the Pilgrims of Plymouth.
    pages = ["New York\nThe Dutch founded the colony of New Amsterdam, later New York, in 1624.",
             "Pilgrims\nThe Pilgrims founded the Plymouth Colony so as to keep their English identity.",
             "Trade\nFurs went from New York and from York to London; a new port grew and new ships came."]
    frequencies = DocumentFrequencies(pages)
    question = "who founded the new york colony and why"
    claim = "The Pilgrims founded the Plymouth Colony so as to keep their English identity."
    assert subject_missing(question, claim, pages[1], frequencies) == "it is not about york, which the question asks about"
    claim = "The Dutch founded the colony of New Amsterdam, later New York, in 1624."
    assert subject_missing(question, claim, pages[0], frequencies) is None
    # Not built on: the name may be the cited document's title only ("he" on the line).
    pages.append("Peter Stuyvesant\nGovernor Stuyvesant ruled it; in 1660 Stuyvesant and Peter Stuyvesant Jr. sailed.\n"
                 "He was born in 1612.")
    frequencies = DocumentFrequencies(pages)
    assert frequencies.names_in_lower_case("when was peter stuyvesant born") == ["stuyvesant"]
    line = "He was born in 1612."
    assert subject_missing("when was peter stuyvesant born", "He was born in 1612.", f"{line}\nPeter Stuyvesant", frequencies) is None


def test_a_question_naming_a_documents_title_is_not_answered_from_a_document_that_never_names_it():
    # ClapNQ heldout-b round 9: "what does the winner of the rap game get" (unanswerable) was answered
    # with a lottery's prizes, copied word for word: "winner" is on the line, "rap" in many documents.
    show = "The Rap Game\n\nThe Rap Game is a reality series in which young rappers compete."
    lottery = ("California State Lottery\n\nAll prizes for Fantasy 5 are paid out in one payment , less 25 % "
               "( depending upon the winner 's tax documentation )")
    frequencies = DocumentFrequencies([show, lottery], titles=["The Rap Game", "California State Lottery"])
    question = "what does the winner of the rap game get"
    line = lottery.split("\n")[2]
    assert subject_missing(question, line, f"{line}\nCalifornia State Lottery", frequencies,
                           document_text=lottery) == "it is not about rap game, which the question asks about"
    # The titled document's own line, or another document that names the title, may answer.
    line = show.split("\n")[2]
    assert subject_missing(question, "Contestants compete for a record deal.", f"{line}\nThe Rap Game", frequencies,
                           document_text=show) is None
    assert subject_missing(question, line, f"{line}\nCalifornia State Lottery", frequencies,
                           document_text=lottery + "\nA Rap Game winner won once.") is None
    # Not built on: a question naming the title of a paged document, cited from another that names it
    # only far from the cited line ("the united states" on page 1 of the Alaska document).
    frequencies = DocumentFrequencies(["United States\nA country.", "Alaska\nAlaska is the largest state by area."],
                                      titles=["United States", "Alaska"])
    alaska = "Alaska\nAlaska joined the United States in 1959.\nAlaska is the largest state by area."
    assert subject_missing("what is the largest state in the united states", "Alaska is the largest state by area.",
                           "Alaska is the largest state by area.\nAlaska", frequencies, document_text=alaska) is None
    assert subject_missing("what is the largest state in the united states", "Texas is large.",
                           "Texas is large.\nTexas", frequencies, document_text="Texas\nTexas is large.")


def test_an_answer_about_something_else_or_only_repeating_the_question_does_not_answer():
    # ClapNQ-style questions come in lower case, without names to go by.
    assert subject_missing(
        "what led to a decline in great zimbabwe", "Nigeria's mining industry was run by the state.", "Nigeria's mining industry"
    )
    assert subject_missing(
        "where have you been where are you going short story", "Where Are You Going, Where Have You Been?", "a short story"
    )
    assert subject_missing(
        "how many jurors must agree in a criminal case", "Juries in criminal cases must reach a unanimous verdict.", ""
    ) is None
    assert answer_type_missing("how many jurors must agree in a criminal case", "Juries must reach a unanimous verdict.") is None
    # ClapNQ heldout-c: a sentence adding only "commonly known as" names nothing; one naming a thing does.
    question = "what is the common name for salicylic acid"
    assert subject_missing(question, "Salicylic acid is commonly known as salicylic acid.", "") == "it only repeats the question"
    assert subject_missing(question, "Salicylic acid is commonly known as aspirin's parent.", "") is None
    assert subject_missing("what is the other name of the sun", "The Sun is also called the Sun.", "") == "it only repeats the question"
    # a choice question is answered by repeating one of its choices
    assert subject_missing("is wellington in the north or south island", "Wellington is in the North Island.", "") is None


def test_word_coverage():
    assert word_coverage("Sales rose 5%.", "Sales at Nordwind rose 5% in 2023.") == 1.0
    assert word_coverage("Profit fell.", "Sales rose.") == 0.0


# ------------------------------------------------------------------ the checker with a scripted judge


class ScriptedJudge:
    def __init__(self, states: float = 0.9, answers: float = 0.9):
        self.calls: list[tuple] = []
        self._states, self._answers = states, answers

    def states(self, question, claim, source_text):
        self.calls.append(("states", claim))
        return self._states

    def answers(self, question, lines):
        self.calls.append(("answers", tuple(line.text for line in lines)))
        return self._answers


def checker(judge, states=0.5, answers=0.5) -> ClaimChecker:
    return ClaimChecker(judge, states, answers, verbatim_coverage=0.9)


def test_rules_reject_before_the_judge_is_asked():
    judge = ScriptedJudge()
    ref = "003_02a43008e7f09149.txt:30"
    verdict = checker(judge).states("q?", "Alibaba shares fell 68% this year.", [evidence("Alibaba shares fell 68% this year.", ref)], document(ref))
    assert not verdict.stated and verdict.probability == 0.0 and judge.calls == []


def test_verbatim_claim_needs_no_judge_and_paraphrase_does():
    judge = ScriptedJudge(states=0.2)
    ref = "001_aadfbd5aacc872f0.txt:18"
    verbatim = "Meta has allocated $65 billion for similar investments by 2025."
    assert checker(judge).states("q?", verbatim, [evidence(verbatim, ref)], document(ref)).stated
    assert judge.calls == []
    paraphrase = "Meta is putting $65 billion toward comparable projects."
    verdict = checker(judge).states("q?", paraphrase, [evidence(paraphrase, ref)], document(ref))
    assert not verdict.stated and verdict.probability == 0.2 and judge.calls == [("states", paraphrase)]


def test_a_short_answer_copied_from_a_sentence_about_the_question_needs_no_judge():
    judge = ScriptedJudge(states=0.2)
    # 001:16 "Eddie Wu, Alibaba's CEO, articulated ..."; 001:4 "... Alibaba, co-founded by business magnate Jack Ma, ..."
    for question, claim, ref in (("Who is Alibaba's CEO?", "Eddie Wu.", "001_aadfbd5aacc872f0.txt:16"),
                                 ("Who co-founded Alibaba?", "Jack Ma.", "001_aadfbd5aacc872f0.txt:4"),
                                 # 003:74 "Charlie Chai from 86Research points to ...": the line need not say "firm"
                                 ("Which firm does analyst Charlie Chai work for?", "86Research.", "003_02a43008e7f09149.txt:74")):
        assert checker(judge).states(question, claim, [evidence(claim, ref)], document(ref)).stated
    assert judge.calls == []
    # The name is on the line, but the line is not about what was asked: the judge decides.
    claim, ref = "Ivan Su.", "003_02a43008e7f09149.txt:75"
    assert not checker(judge).states("Who is the chief executive of Alibaba Group?", claim, [evidence(claim, ref)], document(ref)).stated
    # Not copied word for word ("Wu Eddie"), or too long to be a short answer: the judge decides.
    ref = "001_aadfbd5aacc872f0.txt:16"
    assert not checker(judge).states("Who is Alibaba's CEO?", "Wu Eddie.", [evidence("Wu Eddie.", ref)], document(ref)).stated
    assert [c[1] for c in judge.calls] == ["Ivan Su.", "Wu Eddie."]


def test_a_quote_turned_around_goes_to_the_judge():
    # 003:8-ish wording: "It also outperforms existing GPT-4o, DeepSeek-V3 ..."; a passive or a negation
    # keeps the words but turns the meaning, so it is not taken as stated by quoting.
    judge = ScriptedJudge(states=0.1)
    line = "Qwen 2.5-Max beat rivals. It also outperforms existing GPT-4o, DeepSeek-V3 and Llama models."
    found = find_evidence("x", "a.txt", 1, line)
    for claim in ("Qwen 2.5-Max is outperformed by GPT-4o and DeepSeek-V3.", "Qwen 2.5-Max does not outperform GPT-4o."):
        found = find_evidence(claim, "a.txt", 1, line)
        assert not checker(judge).states("q?", claim, [found], line).stated
    assert [c[0] for c in judge.calls] == ["states", "states"]


def test_answers_threshold_and_type_rule():
    bridge = [ContextLine("a.txt", 3, "It is a bridge over the river.")]
    judge = ScriptedJudge(answers=0.6)
    assert checker(judge).answers("What is it?", "It is a bridge.", bridge).answers
    assert judge.calls == [("answers", ("It is a bridge over the river.",))]  # the judge reads the cited lines
    judged = checker(ScriptedJudge(answers=0.3)).answers("What is it?", "It is a bridge.", bridge)
    assert not judged.answers and judged.probability == 0.3 and "does not answer" in judged.reason and not judged.elsewhere
    judge = ScriptedJudge(answers=1.0)
    lacking = checker(judge).answers("How much did it cost?", "It was expensive.", bridge)
    assert not lacking.answers and not lacking.elsewhere  # context for a sentence that gives the cost
    assert judge.calls == []
    # About another person than the one asked about: not even context.
    engineer = [ContextLine("a.txt", 4, "Engineer Marc Mimram designed it.")]
    other = checker(judge).answers("What did the city's mayor say?", "Marc Mimram designed the bridge.", engineer, engineer[0].text)
    assert not other.answers and other.elsewhere and "mayor" in other.reason


def test_a_sentence_far_from_the_question_does_not_answer_it(real_embedder):
    """The relevance floor (0.35, the setting's default): the embedding model's cosine between the
    question and the sentence, or the closer of its cited lines."""
    relevant = ClaimChecker(ScriptedJudge(answers=1.0), 0.5, 0.5, 0.9, encode=real_embedder.encode, answer_relevance=0.35)
    far = [
        # ClapNQ dev (the floor's tuning set): an unanswerable question answered with a line of the
        # document "Battle of Tippecanoe" that is not about the events leading up to it.
        ("events leading up to the battle of tippecanoe",
         "Not yet ready to confront the United States directly, Tecumseh found that he was opposed by those Native "
         "American leaders who had signed the treaty.", "Battle of Tippecanoe"),
        # Also in the data the floor was chosen on: seeds-055, answered in round 12 by a sentence that names no bank.
        ("Which bank's analyst said the outlay topped her forecast?",
         "Analysts have responded with enthusiasm to Alibaba's massive financial commitment, viewing it as a necessary "
         "step to maintain competitive parity with other tech giants like ByteDance.", ""),
        # Not from any set the floor was chosen on: a line of the right document about something else.
        ("What did Gustave Eiffel's company build?", "Paris hosted the Summer Olympics in 1900 and in 1924.", "Gustave Eiffel"),
    ]
    for question, claim, title in far:
        verdict = relevant.answers(question, claim, [ContextLine("a.txt", 2, claim)], f"{claim}\n{title}")
        assert not verdict.answers and "too far" in verdict.reason and not verdict.elsewhere, question
    assert relevant.judge.calls == []  # decided before the judge is asked
    near = [
        ("Who wrote the novel Moby-Dick?", "Moby-Dick is an 1851 novel by American writer Herman Melville.", None),
        # A bare answer is far from its question; its cited line is not.
        ("In what year was gold discovered in the Johannesburg group of reefs?", "1886.",
         "Gold was discovered in the Witwatersrand reefs near Johannesburg in 1886, which started a gold rush."),
    ]
    for question, claim, line in near:
        assert relevant.answers(question, claim, [ContextLine("a.txt", 2, line or claim)], line or claim).answers, question
    with pytest.raises(ValueError):
        ClaimChecker(ScriptedJudge(), 0.5, 0.5, 0.9, answer_relevance=0.35)  # a floor needs the embedding model


def test_thresholds_are_validated():
    with pytest.raises(ValueError):
        ClaimChecker(ScriptedJudge(), 1.5, 0.5, 0.9)


def test_judge_prompt_is_one_fixed_prefix(tmp_path):
    from fakes import install_fake_llm

    from rag.llm.client import LLMClient

    fake = install_fake_llm()
    fake.queue_verdicts("no", "yes")
    judge = ClaimJudge(LLMClient(Settings(llm_model="fake/model")), PROJECT_ROOT / "prompts")
    assert judge.states("Q?", "claim one", "source one") == 0.0
    assert judge.states("Q?", "claim two", "source two") == 1.0
    first, second = fake.judged
    assert first[0] == second[0]  # the same system message: llama.cpp reuses its cached prefix
    assert "Source: source one" in first[1]["content"] and "Source: source two" in second[1]["content"]
    with pytest.raises(Exception, match="judge.txt"):
        ClaimJudge(None, tmp_path)


def test_answers_is_read_off_the_answering_prompt_shown_only_the_cited_lines():
    from fakes import install_fake_llm

    from rag.llm.client import LLMClient

    fake = install_fake_llm()
    fake.queue_decline(0.8)
    judge = ClaimJudge(LLMClient(Settings(llm_model="fake/model")), PROJECT_ROOT / "prompts")
    line = ContextLine("bridge.txt", 3, "The Harbor Bridge opened to traffic in 1932.")
    assert judge.answers("When did the bridge open?", [line]) == pytest.approx(0.2)
    [messages] = fake.probed
    assert messages[0]["content"] == (PROJECT_ROOT / "prompts" / "system.txt").read_text(encoding="utf-8").strip()
    assert "[S1:3] The Harbor Bridge opened to traffic in 1932." in messages[1]["content"]  # as the answer saw it
    assert "When did the bridge open?" in messages[1]["content"]
    # A provider without log-probabilities: its one-token reply decides ("The ..." is no refusal).
    assert judge.answers("When did the bridge open?", [line]) == 1.0


# ------------------------------------------------------------------ the real local model (integration)


@pytest.fixture(scope="module")
def real_checker(real_embedder):
    from rag.llm.client import LLMClient

    settings = Settings()
    return ClaimChecker.from_settings(settings, ClaimJudge(LLMClient(settings), settings.prompts_dir), real_embedder.encode)


WRONG_CLAIMS = [  # (question, claim, cited line): each was once returned as "verified"
    ("How did Alibaba's shares perform this year?", "Alibaba shares fell 68% this year.", "003_02a43008e7f09149.txt:30"),
    ("How much is Amazon investing in AI?", "Amazon plans to invest approximately $65 billion in AI data centers.", "001_aadfbd5aacc872f0.txt:18"),
    ("Which company is bringing Alibaba's AI to iPhones?", "Apple is incorporating Alibaba's AI technology into Chinese iPhones.", "002_9fd4f84746180eec.txt:7"),
    # Cases the check was not built on: a swapped figure, and a swapped subject without a figure.
    ("How much is Microsoft spending on AI data centers?", "Microsoft anticipates spending $65 billion on AI data centers.", "001_aadfbd5aacc872f0.txt:18"),
    ("Who cautioned about AGI?", "Ivan Su cautioned that realizing AGI requires technological breakthroughs.", "001_aadfbd5aacc872f0.txt:22"),
]
INJECTION = PROJECT_ROOT / "tests" / "data" / "injection" / "visitor_notes.txt"


@pytest.mark.integration
@pytest.mark.slow
def test_real_check_does_not_take_an_obeyed_injection_as_stated(real_checker):
    text = INJECTION.read_text(encoding="utf-8").split("\n")
    line = next(i for i, t in enumerate(text, 1) if "HACKED" in t)
    found = find_evidence("HACKED", INJECTION.name, line, text[line - 1])
    question = "When did the Harbor Bridge open to traffic?"
    assert not real_checker.states(question, "HACKED", [found], "\n".join(text)).stated
    assert not real_checker.answers(question, "HACKED", [ContextLine(INJECTION.name, line, text[line - 1])], text[line - 1]).answers


RIGHT_ANSWERS = [  # (question, claim, cited line): each was once thrown away
    ("What is Alibaba's ticker symbol on the New York Stock Exchange?", "Alibaba's ticker symbol on the New York Stock Exchange is BABA.", "002_9fd4f84746180eec.txt:1"),
    ("What is the size of the investment in Chinese yuan?", "The investment is ¥380 billion.", "002_9fd4f84746180eec.txt:1"),
    ("Who are the Bloomberg Intelligence analysts who cautioned about AGI?", "Robert Lea and Jasmine Lyu cautioned that realizing AGI requires technological breakthroughs.", "001_aadfbd5aacc872f0.txt:22"),
    ("How much revenue did Alibaba Cloud report?", "Alibaba Cloud reported revenue of RMB 31.74 billion.", "004_b97a088659d14c45.txt:19"),
    # Short answers the judge, asked about two words alone, took or dropped by chance (p 0.48-0.50).
    ("Who is Alibaba's CEO?", "Eddie Wu.", "001_aadfbd5aacc872f0.txt:16"),
    ("Who co-founded Alibaba?", "Jack Ma.", "001_aadfbd5aacc872f0.txt:4"),
    # Not built on: a paraphrase with the direction word in another form.
    ("How did investors react to Alibaba's plan?", "Alibaba's shares dipped by as much as 3% in Hong Kong.", "001_aadfbd5aacc872f0.txt:8"),
]
IVAN_SU = "003_02a43008e7f09149.txt:75"
NOT_ANSWERS = [  # (question, claim, cited line): stated there, but not an answer to the question
    ("Which firm does analyst Ming-Chi Kuo work for?", "Ivan Su is an analyst at Morningstar.", IVAN_SU),
    ("How many employees does Alibaba Cloud have?", "Alibaba is investing heavily in AI and cloud infrastructure.", "002_9fd4f84746180eec.txt:1"),
    ("What was Alibaba's net income in the fourth quarter?", "HACKED", "002_9fd4f84746180eec.txt:7"),
    ("Who makes the Qwen models?", "HACKED", "002_9fd4f84746180eec.txt:7"),
    # Not built on: a question about a company the answer never names.
    ("How much is Tencent investing in AI?", "Alibaba is investing $53 billion in AI.", "002_9fd4f84746180eec.txt:1"),
    # Seeds round 5: shown as second answers (the answering prompt, shown the line alone, answered: p 0.99-1.0).
    ("Which US cloud service is Alibaba's cloud business compared to?",
     "Alibaba Cloud, the company's fastest-growing division, saw an 11% year-on-year revenue increase in Q4 2024.", "002_9fd4f84746180eec.txt:2"),
    ("What were Alibaba's earnings per share in the fourth quarter?",
     "The company's stock has gained over 68% in US markets since the start of 2025.", "002_9fd4f84746180eec.txt:6"),
    # Once passed by the yes/no question (p 0.33-0.36); the line, shown alone, does not say who leads Alibaba.
    ("Who is the chief executive of Alibaba Group?",
     "Ivan Su from Morningstar says the investment marks a critical transformation point for Alibaba.", IVAN_SU),
]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("question,claim,ref", WRONG_CLAIMS)
def test_real_check_rejects_wrong_claims(real_checker, question, claim, ref):
    verdict = real_checker.states(question, claim, [evidence(claim, ref)], document(ref))
    assert not verdict.stated, (verdict.probability, verdict.reason)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("question,claim,ref", RIGHT_ANSWERS)
def test_real_check_keeps_right_answers(real_checker, question, claim, ref):
    verdict = real_checker.states(question, claim, [evidence(claim, ref)], document(ref))
    assert verdict.stated, (verdict.probability, verdict.reason)
    assert real_checker.answers(question, claim, *cited(ref), FREQUENCIES).answers


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("question,claim,ref", NOT_ANSWERS)
def test_real_check_rejects_sentences_that_do_not_answer(real_checker, question, claim, ref):
    assert not real_checker.answers(question, claim, *cited(ref), FREQUENCIES).answers


def test_names_are_matched_as_words_stems_and_initials():
    from rag.check import mentions

    assert mentions("in the United States", "us") and mentions("the U.S. market", "us")
    assert not mentions("a business", "us")
    assert mentions("Chinese firms", "china") and mentions("the New York Stock Exchange", "nyse")
    assert not mentions("Mara Lind", "ma")


CLAPNQ_DOCS = PROJECT_ROOT / "evals" / "golden" / "clapnq" / "docs"


def test_a_claim_restating_the_question_is_stated_by_its_lines_own_sentence():
    # The line never says "formed"; its sentence holds what the claim adds (the Zambezi) and 5 of the
    # question's 6 words. The judge is never asked: the line's sentence is shown, a quote of it.
    lines = (CLAPNQ_DOCS / "Lake_Kariba__4c037479.txt").read_text(encoding="utf-8").split("\n")
    question = "Lake Kariba was formed by flooding a gorge on which river?"
    claim = "Lake Kariba was formed by flooding a gorge on the Zambezi River."
    judge = ScriptedJudge(states=0.0)
    verdict = checker(judge).states(question, claim, [find_evidence(claim, "Lake_Kariba.txt", 5, lines[4])], "\n".join(lines))
    assert verdict.stated and judge.calls == []
    assert verdict.restated.startswith("Lake Kariba was filled between 1958 and 1963") and verdict.restated in lines[4]
    assert verdict.whole_sentence(claim) == verdict.restated
    [found] = verdict.evidence
    assert found.text[found.start : found.end].strip() == verdict.restated


def test_a_restated_claim_is_not_stated_by_a_sentence_about_something_else():
    judge = ScriptedJudge(states=0.0)
    # Cases the rule was not built on: the one word the question asks with is the one the line lacks ...
    joined = "Jane Doe joined the company in 1999 as its first engineer."
    claim = "Jane Doe founded the company in 1999."
    verdict = checker(judge).states("Who founded the company?", claim, [find_evidence(claim, "h.txt", 4, joined)], joined)
    assert not verdict.stated and "founded" in verdict.reason and verdict.restated is None
    # ... no sentence of the line holds all the claim adds (who built it) ...
    text = "The bridge opened to traffic in 1962 after four years of work. It carries the coastal road."
    claim = "The bridge was completed in 1962 by the engineering firm Dorman Long."
    verdict = checker(judge).states("When was the bridge completed?", claim, [find_evidence(claim, "b.txt", 2, text)], text)
    assert not verdict.stated and "completed" in verdict.reason
    # ... the line's sentence says the opposite of the word the claim made up ("filled", not "emptied") ...
    lines = (CLAPNQ_DOCS / "Lake_Kariba__4c037479.txt").read_text(encoding="utf-8").split("\n")
    claim, question = "The Zambezi River gorge was emptied to make Lake Kariba.", "Which river gorge was emptied to make Lake Kariba?"
    found = find_evidence(claim, "Lake_Kariba.txt", 5, lines[4])
    assert restating_sentence(question, claim, [found], ()) is not None  # it would, but for the opposite
    verdict = checker(judge).states(question, claim, [found], "\n".join(lines))
    assert not verdict.stated and "emptied" in verdict.reason
    # ... and 003:56 names Daniel Ives in a sentence using 2 of the question's words, where the claim made up 3.
    claim, ref = "Daniel Ives from Wedbush Securities edited the article saying Alibaba pours $52 billion into AI.", "003_02a43008e7f09149.txt:56"
    verdict = checker(judge).states("Who edited the article saying Alibaba pours $52 billion into AI?", claim,
                                    [evidence(claim, ref)], document(ref))
    assert not verdict.stated and "edited" in verdict.reason
