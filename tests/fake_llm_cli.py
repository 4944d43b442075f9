"""`python tests/fake_llm_cli.py ARGS...`: the `rag` command with the fake litellm provider
"fake/model" installed, for tests that need real server processes but no language model."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import install_fake_llm  # noqa: E402
from rag.cli import main  # noqa: E402

install_fake_llm()
sys.exit(main(sys.argv[1:]))
