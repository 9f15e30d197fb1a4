"""Print what the scrubber leaks and over-scrubs on the corpus (tuning seeds only).

    python -m tests.deid_corpus.leaks [--seeds tuning] [--per-seed 150] [--show 40]
    python -m tests.deid_corpus.leaks --tuning-seeds 4,5,6   # fresh tuning-mode seeds

Runs the same engine path as ``fivesafes bench deid`` and prints, per label, how many
identifiers leaked with a few examples in context (``<<`` ``>>`` mark the identifier), the
leaks per document shape, and the non-identifier words that were removed. Everything it
prints is synthetic corpus text, never anything from a real upload.

Honesty rule: held-out seeds are for reporting, not tuning. ``--seeds heldout`` is
refused unless ``--i-know-this-is-heldout`` is also given; whoever passes it should stop
tuning on what they see.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict

from fivesafes.bench.deid_bench import score_corpus
from fivesafes.bench.deid_corpora import DOCS_PER_SEED, build_corpus
from fivesafes.deid.types import ScrubberConfig
from tests import deid_corpus

CONTEXT = 40


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", choices=("tuning", "heldout"), default="tuning")
    parser.add_argument("--i-know-this-is-heldout", action="store_true")
    parser.add_argument("--per-seed", type=int, default=DOCS_PER_SEED)
    parser.add_argument("--show", type=int, default=15, help="examples per label")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--tuning-seeds",
        type=lambda v: tuple(int(x) for x in v.split(",")),
        help="other tuning-mode seeds (comma-separated, each below 100) instead of 1,2,3",
    )
    args = parser.parse_args(argv)
    if args.seeds == "heldout" and not args.i_know_this_is_heldout:
        print(
            "refused: held-out seeds are never inspected while tuning "
            "(pass --i-know-this-is-heldout if you are not tuning)",
            file=sys.stderr,
        )
        return 2
    seeds = deid_corpus.TUNING_SEEDS if args.seeds == "tuning" else deid_corpus.HELDOUT_SEEDS
    if args.tuning_seeds:
        if args.seeds != "tuning" or any(deid_corpus.is_heldout(s) for s in args.tuning_seeds):
            print(
                "refused: --tuning-seeds takes tuning-mode seeds only (below 100)", file=sys.stderr
            )
            return 2
        seeds = args.tuning_seeds
    corpus = build_corpus(deid_corpus, args.seeds, seeds, args.per_seed)
    config = ScrubberConfig(hospital_number_patterns=(r"\b[A-Z]\d{7}\b",))
    score, outputs, via = score_corpus(corpus, args.workers, config)
    print(f"{len(corpus.rows)} documents, seeds {seeds}, via {via}")
    print(
        f"recall {score.recall:.4f}, keep {score.keep_rate:.4f}, "
        f"words kept {score.words_kept_rate:.4f}, raw leaks {score.raw_leaks}"
    )

    by_label: dict[str, list[str]] = defaultdict(list)
    by_shape: Counter[tuple[str, str]] = Counter()
    for leak in score.leaks:
        doc = corpus.docs[leak.row]
        by_shape[(doc.shape, leak.label)] += 1
        span = next(
            s for s in doc.spans if s.label == leak.label and doc.text[s.start : s.end] == leak.text
        )
        before = doc.text[max(0, span.start - CONTEXT) : span.start]
        after = doc.text[span.end : span.end + CONTEXT]
        by_label[leak.label].append(f"{before}<<{leak.text}>>{after}".replace("\n", " / "))
    print("\nLeaks per label")
    for label, shown in sorted(by_label.items(), key=lambda kv: -len(kv[1])):
        print(f"== {label}: {len(shown)} of {score.total[label]}")
        for line in shown[: args.show]:
            print(f"   {line}")
    print("\nLeaks per shape and label (top 30)")
    for (shape_name, label), count in by_shape.most_common(30):
        print(f"   {count:4d}  {shape_name:<22} {label}")
    print("\nNon-identifier words removed (top 40)")
    print("   " + ", ".join(f"{w} x{n}" for w, n in score.dropped_words.most_common(40)))
    missing = Counter(
        phrase
        for gold, out in zip(corpus.golds, outputs, strict=True)
        for phrase in gold.keep
        if phrase not in out
    )
    print("\nKeep phrases lost (top 30)")
    print("   " + "; ".join(f"{p} x{n}" for p, n in missing.most_common(30)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
