"""Every stage keeps the promise on bad input: exit 2, one line naming the file or option, nothing written.

The cases are built from each stage's own options (``tests/cli/stage_corpus.py``); their expected lines
are the table ``tests/data/bad/STAGES.md``.
"""

from __future__ import annotations

import pytest
import stage_corpus as corpus

from mpsomics import cli

TABLE = corpus.read_table()


def test_every_stage_has_at_least_ten_cases():
    per_stage = {s: sum(1 for (st, _c) in TABLE if st == s) for s in cli.STAGES}
    thin = {s: n for s, n in per_stage.items() if n < 10}
    assert not thin, thin


@pytest.mark.parametrize(("stage", "case"), sorted(TABLE))
def test_case_matches_the_table(stage, case):
    got = corpus.run_case(stage, case)
    assert got is not None, f"{stage} {case}: the corpus no longer builds this case"
    code, line, words, untouched = got
    want_code, want_line = TABLE[(stage, case)]
    assert (code, line) == (want_code, want_line)
    if (stage, case) in corpus.VALID:
        return
    assert code == 2
    assert line.startswith(f"mpsomics {stage}: error: ") or line.startswith("mpsomics: error: ")
    assert any(w in line for w in words), f"the message names none of {words}"
    assert untouched, "the case changed files it should not have"
