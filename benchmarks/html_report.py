"""Size and time of the ``--html`` pages on N generated 1024x768 pairs of 20 classes.

The score page draws only the ``--worst`` images, so its size should not grow with N; the stats
page reads the inputs a second time to find the rarest classes' images. Photographs are made
for the worst images only (the page reads no other), as smooth JPEGs like real ones.

    .venv/bin/python -m benchmarks.html_report --images 1000 --workers 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from benchmarks.score_speed import H, W, write_dataset
from polymask.io.reports import write_report
from polymask.report.html.gallery import rare_class_cards
from polymask.report.html.score_page import score_page
from polymask.report.html.stats_page import stats_page
from polymask.score.run import ScoreOptions, score_folders
from polymask.settings import Settings
from polymask.stats.compute import collect, find_masks, summarize


def photo(rng: np.random.Generator) -> Image.Image:
    """A smooth picture with some grain, which compresses as photographs do."""
    coarse = rng.integers(0, 255, (H // 64, W // 64, 3), np.uint8)
    img = Image.fromarray(coarse).resize((W, H), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 6, (H, W, 3))
    return Image.fromarray(np.clip(np.asarray(img) + grain, 0, 255).astype(np.uint8)).filter(
        ImageFilter.SMOOTH
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worst", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_dataset(root, args.images, args.seed)
        options = ScoreOptions(device="cpu", workers=args.workers, worst=args.worst, confusion=True)
        start = time.perf_counter()
        result = score_folders(root / "pred", root / "gt", options)
        scored = time.perf_counter() - start
        rng = np.random.default_rng(args.seed)
        (root / "img").mkdir()
        for w in result.report.worst:
            photo(rng).save(root / "img" / f"{w.key}.jpg", quality=90)
        for images, name in ((None, "score.html"), (root / "img", "score-photos.html")):
            start = time.perf_counter()
            write_report(root / name, score_page(result, images).encode("utf-8"))
            took = time.perf_counter() - start
            size = (root / name).stat().st_size
            print(
                f"score page, {args.images} images ({args.worst} drawn"
                f"{', over photographs' if images else ''}): {size / 1024:.0f} KB, "
                f"written in {took:.2f} s (scoring took {scored:.1f} s)"
            )
        settings = Settings(workers=args.workers)
        files = find_masks([root / "gt"])
        start = time.perf_counter()
        acc, problems, failed = collect(files, "masks", settings)
        report = summarize(acc, None, "masks", problems=problems, files_failed=failed)
        counted = time.perf_counter() - start
        start = time.perf_counter()
        cards = rare_class_cards(files, "masks", settings, None, report, acc.richest())
        write_report(root / "stats.html", stats_page(report, cards).encode("utf-8"))
        took = time.perf_counter() - start
        size = (root / "stats.html").stat().st_size
        print(
            f"stats page, {args.images} images: {size / 1024:.0f} KB, written in {took:.2f} s "
            f"(counting took {counted:.1f} s)"
        )


if __name__ == "__main__":
    main()
