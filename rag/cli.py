"""The `rag` command: parse arguments, call RagService, print results.

Errors are printed as one line on standard error with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from rag.errors import RagError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("bm25s", "httpx", "LiteLLM", "litellm", "sentence_transformers", "transformers", "faiss"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    _quiet_libraries()


def _add_index_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index-dir", type=Path, help="index folder [index/, or RAG_INDEX_DIR]")
    parser.add_argument(
        "--store", metavar="STORE", dest="vector_store",
        help="faiss, a Milvus Lite file (./index/milvus.db) or a Milvus URI (http://host:19530) [faiss, or RAG_VECTOR_STORE]",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Answer questions from your documents, citing exact files and lines."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to standard error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="index files (only new or changed files are embedded again)")
    index.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="folders or files [seeds/]")
    index.add_argument("--no-progress", action="store_true", help="no progress bar")
    index.add_argument(
        "--engine", choices=["local", "ray"], default=None,
        help="what embeds the chunks: this process, or Ray Data actors (a local Ray, or RAY_ADDRESS's cluster) [local]",
    )
    _add_index_dir(index)

    search = commands.add_parser("search", help="print the best passages for a question")
    search.add_argument("question")
    search.add_argument("-k", type=_positive_int, default=None, help="number of passages [5]")
    search.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    search.add_argument("--json", action="store_true", help="print {\"passages\": [...]}")
    _add_index_dir(search)

    ask = commands.add_parser("ask", help="answer a question with checked citations")
    ask.add_argument("question")
    ask.add_argument("-k", type=_positive_int, default=None, help="passages given to the model [5]")
    ask.add_argument("--model", help="any litellm model, e.g. openai/gpt-4o-mini [local model]")
    ask.add_argument("--json", action="store_true", help="print the answer object")
    _add_index_dir(ask)

    serve = commands.add_parser("serve", help="serve the HTTP API and the chat page")
    serve.add_argument("--host", default=None, help="[127.0.0.1]")
    serve.add_argument("--port", type=int, default=None, help="[8000]")
    serve.add_argument("--model", help="any litellm model [local model]")
    _add_index_dir(serve)

    evaluate = commands.add_parser("eval", help="run golden questions and report quality")
    evaluate.add_argument("--golden", type=Path, required=True, help="golden questions (JSON Lines)")
    evaluate.add_argument("--corpus", type=Path, help="answer over this folder, in an index of its own")
    evaluate.add_argument("--retrieval-only", action="store_true", help="measure retrieval only; no LLM")
    evaluate.add_argument("--limit", type=_positive_int, help="first N questions only")
    evaluate.add_argument("-k", type=_positive_int, default=None, help="passages retrieved [5]")
    evaluate.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    evaluate.add_argument("--out", type=Path, help="write report.json, summary.md and charts here")
    evaluate.add_argument("--compare", type=Path, help="a previous report.json to compare with")
    evaluate.add_argument("--model", help="any litellm model [local model]")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_index_dir(evaluate)
    return parser


def _service(args: argparse.Namespace):
    from rag.service import RagService
    from rag.settings import load_settings

    overrides = {
        "index_dir": getattr(args, "index_dir", None), "llm_model": getattr(args, "model", None),
        "embedding_engine": getattr(args, "engine", None), "vector_store": getattr(args, "vector_store", None),
    }
    return RagService(load_settings(**overrides))


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _loading_message(service) -> str:
    """What loading means for this model; a cold start is never silent."""
    if not service.llm.is_local:
        return "loading the embedding model..."
    from rag.llm import local, packaged

    first = local.assembles_on_load(service.settings)
    note = f" (first start assembles it, about {packaged.ASSEMBLY_ESTIMATE_S} s)" if first else ""
    return f"loading the embedding model and the language model{note}..."


def _health_status(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:  # 503 while loading or not ready
        body = exc.read()
    except OSError:  # not listening yet
        return None
    try:
        return json.loads(body).get("status")
    except (ValueError, AttributeError):
        return None


def _say_when_ready(url: str, started: float) -> None:
    """Print "ready" once /health says so: the server loads its models after it starts listening."""
    while True:
        time.sleep(0.5)
        status = _health_status(f"{url}/health")
        if status == "ready":
            _say(f"ready ({time.perf_counter() - started:.1f} s): {url}/")
            return
        if status == "not_ready":
            return  # the server has logged why


def _print_passages(passages, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"passages": [p.model_dump() for p in passages]}, ensure_ascii=False, indent=1))
        return
    if not passages:
        print("no passages found")
    for rank, passage in enumerate(passages, start=1):
        print(f"{rank}. {passage.label}  score {passage.score:.4f}")
        for line in passage.text.splitlines():
            print(f"     {line}")
        print()


def _cmd_index(args) -> int:
    service = _service(args)
    stats = service.index(args.paths or None, progress=False if args.no_progress else None)
    print(stats.summary())
    return 0


def _cmd_search(args) -> int:
    service = _service(args)
    _print_passages(service.search(args.question, args.k, args.mode), args.json)
    return 0


def _cmd_ask(args) -> int:
    from rag.types import NOT_IN_DOCUMENTS, Answer

    service = _service(args)
    events = service.ask_stream(args.question, args.k)  # checks the question and opens the index first
    started = time.perf_counter()
    _say(_loading_message(service))
    service.warm_up(llm=False)
    service.llm.warm_up()
    _say(f"ready ({time.perf_counter() - started:.1f} s)")
    stream = not args.json and sys.stdout.isatty()
    answer = None
    for event in events:
        if isinstance(event, Answer):
            answer = event
        elif stream:  # a sentence that passed the claim check: final, so it can be shown at once
            print(event.text, end=" ", flush=True)
    failed = answer.status == "model_unavailable"
    if args.json:
        print(answer.model_dump_json(indent=1))
        return EXIT_ERROR if failed else 0
    if failed:
        print(f"error: {answer.answer}", file=sys.stderr)
    elif answer.answerable:
        print("\n" if stream else answer.answer + "\n")
        print("Citations (each checked against its line):")
        for citation in answer.citations:
            print(f"  {citation.label}{' (found by the service)' if citation.repaired else ''}")
            for span in citation.spans:
                print(f"      > {citation.quote.splitlines()[span.line - citation.start_line][span.start_char : span.end_char]}")
        return 0
    else:
        kind = "Not in the documents" if answer.status in NOT_IN_DOCUMENTS else "No checked answer"
        print(f"{kind}: {answer.answer}")
    if answer.passages:
        print("\nPassages found:")
        for passage in answer.passages:
            print(f"  {passage.label} {' '.join(passage.text.split())[:100]}")
    return EXIT_ERROR if failed else 0


def _cmd_serve(args) -> int:
    from api.server import serve

    service = _service(args)
    settings = service.settings
    host, port = args.host or settings.host, args.port or settings.port
    probe = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://[{probe}]:{port}" if ":" in probe else f"http://{probe}:{port}"
    _say(_loading_message(service))
    threading.Thread(target=_say_when_ready, args=(url, time.perf_counter()), daemon=True, name="ready").start()
    serve(settings, host=host, port=port)
    return 0


def _cmd_eval(args) -> int:
    from rag.evaluation.runner import run_eval_command

    return run_eval_command(args, _service(args))


COMMANDS = {"index": _cmd_index, "search": _cmd_search, "ask": _cmd_ask, "serve": _cmd_serve, "eval": _cmd_eval}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
