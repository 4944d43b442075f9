"""Golden-question evaluation: metrics (rag.evaluation.metrics) and report files (rag.evaluation.report)."""
