"""Hostile files never crash the backend (issue 14): the readers of user files under bench/fuzz.py.

Hypothesis picks the seed and 1-3 of the fuzzer's own mutators (the same code as ``bench/fuzz.py``;
the heavy ones, a 150 MB transforms.json and 13000 x 13000 images, are left to the regression
cases, which run in the fuzzer's worker processes with its memory accounting). Deterministic:
derandomized, no example database and no shrinking: a failure names its ``fuzz.Spec``, which
``fuzz.try_spec`` runs again. The seeds are made once per module by the project's own writers.

These tests state the final behaviour the issue asks for: every input accepted or cleanly refused,
within 10 s and 1 GB of peak RSS; the named regression cases refused (or flagged, for the snapshot
header edits).
"""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from bench import fuzz

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A hang is forever; 60 s tells one from a slow input on a busy CI machine (bench/fuzz.py keeps 10 s).
TIME_LIMIT = 60.0
MEMORY_LIMIT_MB = 1024.0
CI = dict(deadline=None, derandomize=True, database=None, phases=(Phase.explicit, Phase.generate))


@pytest.fixture(scope="module")
def seeds_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz-seeds"))


@pytest.fixture(scope="module")
def seeds(seeds_root):
    made = {}

    def get(reader):
        if reader not in made:
            made[reader] = fuzz.Seeds(reader, seeds_root).ensure(TIME_LIMIT)
            assert not made[reader].problems, made[reader].problems
        return made[reader]

    return get


def specs(reader):
    step = st.tuples(st.sampled_from(fuzz.mutator_names(reader, heavy=False)), st.integers(0, 2**32 - 1))
    return st.builds(fuzz.Spec, st.just(reader), st.sampled_from(fuzz.SEED_NAMES[reader]),
                     st.lists(step, min_size=1, max_size=3).map(tuple))


def check(spec, seeds, tmp_root):
    """One input in this process: a clean outcome, and the memory it took (this process holds pytest
    and the seeds too, so the growth from its RSS before the reader ran is what is measured here;
    the regression test measures whole worker processes)."""
    base = {}

    def measure_from_here():  # after the input is built: building it is not the reader's memory
        base["rss"] = fuzz.current_rss_mb() if fuzz.reset_peak_rss() else None

    rec = fuzz.try_spec(spec, seeds(spec.reader), TIME_LIMIT, tmp_root, measure_from_here)
    assert rec["outcome"] in ("accepted", "rejected"), (
        f"{rec}\nfrom {spec!r}; write it into DIR with: fuzz.build(spec, fuzz.Seeds(reader, SEEDS).ensure(), DIR)")
    if base.get("rss") is not None:
        grown = fuzz.peak_rss_mb() - base["rss"]
        assert grown < MEMORY_LIMIT_MB, f"{spec!r}: the reader took {grown:.0f} MB"


@settings(max_examples=40, **CI)
@given(spec=specs("snapshot"))
def test_snapshot_reader(seeds, tmp_path_factory, spec):
    check(spec, seeds, str(tmp_path_factory.getbasetemp()))


@settings(max_examples=150, **CI)
@given(spec=specs("dataset"))
def test_dataset_reader(seeds, tmp_path_factory, spec):
    check(spec, seeds, str(tmp_path_factory.getbasetemp()))


@settings(max_examples=150, **CI)
@given(spec=specs("ply"))
def test_ply_reader(seeds, tmp_path_factory, spec):
    check(spec, seeds, str(tmp_path_factory.getbasetemp()))


def test_regression_cases(seeds, seeds_root, tmp_path):
    """Every known crash, in the fuzzer's workers (a 13000 x 13000 image must not take this process's memory)."""
    wrong = []
    opts = fuzz.Options(time_limit=TIME_LIMIT, memory_limit_mb=MEMORY_LIMIT_MB, progress=False)
    for reader in fuzz.READERS:
        seeds(reader)
        cases = fuzz.REGRESSIONS[reader]
        run = fuzz.run_reader(reader, opts, 0, len(cases), seeds_root, str(tmp_path / reader))
        for rec, case in zip(run["records"], cases):
            if not fuzz.regression_ok(rec, case.expect):
                wrong.append(f"{reader} #{rec['index']} {case.name} (expected {case.expect}): {rec['outcome']}"
                             f" {rec.get('site') or ''} {rec.get('message', '')}")
    assert not wrong, "\n".join(wrong)


def test_harness_accounting():
    """Hangs (timer and watchdog), memory (peak RSS and MemoryError), crash sites, dead workers."""
    assert fuzz.self_test() == []


def test_inputs_are_reproducible(seeds, tmp_path):
    def tree(folder):
        return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
                for d, _, files in os.walk(folder) for f in files}

    for index in range(len(fuzz.REGRESSIONS["ply"]), len(fuzz.REGRESSIONS["ply"]) + 20):
        spec = fuzz.spec_for("ply", 3, index)
        assert spec == fuzz.spec_for("ply", 3, index)
        a, b = tmp_path / f"{index}a", tmp_path / f"{index}b"
        fuzz.build(spec, seeds("ply"), str(a))
        fuzz.build(spec, seeds("ply"), str(b))
        assert tree(a) == tree(b), spec


def test_command_line(seeds, seeds_root, tmp_path):
    seeds("ply"), seeds("dataset")
    out = tmp_path / "fuzz.md"
    cmd = [sys.executable, os.path.join(REPO, "bench", "fuzz.py"), "--inputs", "30", "--readers", "ply,dataset",
           "--out", str(out), "--seeds-dir", seeds_root]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    table = out.read_text().split("## Failures")[0]
    assert "| " + " | ".join(fuzz.COLUMNS) + " |" in table
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()
            if line.startswith("| ") and "reader" not in line}
    assert set(rows) == {"ply", "dataset"}
    summary = json.loads((tmp_path / "fuzz.json").read_text())
    for reader in ("ply", "dataset"):
        s = summary["readers"][reader]
        assert s["inputs"] == 30 + len(fuzz.REGRESSIONS[reader]) == sum(s["counts"].values())
        assert rows[reader].split("|")[2].strip() == str(s["inputs"])
    assert proc.returncode == (1 if fuzz.any_failure(summary) else 0)

    to = tmp_path / "repro"
    cmd = [sys.executable, os.path.join(REPO, "bench", "fuzz.py"), "--reproduce", "ply", "9", "--to", str(to),
           "--seeds-dir", seeds_root]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (to / "in" / "input.ply").exists() and "read_ply(" in proc.stdout
