"""Golden-question evaluation, one module per concern:

    golden = load_golden("evals/golden/seeds.jsonl")                  # golden.py: the file format
    records = [score_question(g, passages_for(g), answer_for(g), k=5)  # scoring.py (spans.py for lines)
               for g in golden]
    report = build_report(records, k=5, retrieval_only=False)          # aggregate.py: the summary numbers
    write_report(report, Path("evals/reports/latest"))                 # report.py: report.json, summary.md, charts

runner.py drives this for `rag eval`. Formats: docs/golden.md and docs/report.md;
metric definitions: evals/README.md, "Metrics".
"""
