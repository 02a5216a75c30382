"""``polymask rasterize``: annotation files to class-index PNG masks."""

from __future__ import annotations

import sys

import click

from polymask.cli.format_options import format_opts, mask_format_opt
from polymask.cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    INPUT_PATH,
    OUTPUT_DIR,
    annotation_files,
    config_opt,
    convention_opt,
    ignore_index_opt,
    labels_opt,
    max_pixels_opt,
    order_opt,
    progress,
    scheduler_opt,
    settings_from,
    unknown_opt,
    usage_errors,
    workers_opt,
)


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=INPUT_PATH)
@click.option(
    "-o",
    "--output",
    "output",
    type=OUTPUT_DIR,
    help="Folder for the class masks (subfolders mirror the inputs). Required, here "
    "or as `output` in [tool.polymask].",
)
@labels_opt
@ignore_index_opt
@unknown_opt
@convention_opt
@order_opt
@click.option(
    "--instances",
    "instances",
    type=OUTPUT_DIR,
    help="Also write 16-bit instance-id masks here, one id per (label, group_id).",
)
@click.option(
    "--overlay",
    "overlay",
    type=OUTPUT_DIR,
    help="Also write JPEG overlays (image + classes + outlines) here, to check by eye.",
)
@click.option(
    "--keys",
    type=click.Choice(["name", "source"]),
    default="name",
    show_default=True,
    help="How images of multi-image files are named: by their own name, beside the file "
    "('name'), or below the file's path ('source': exports/a.json -> exports/a/image1), for "
    "datasets with several exports naming the same images.",
)
@click.option("--force", is_flag=True, help="Rewrite masks that are already up to date.")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 listing masks that are missing or differ from what the "
    "annotations produce, and polymask masks no annotation produces any more (orphans).",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Exit 0 when the inputs hold no annotation files (default: exit 2, a wrong path "
    "must not pass a check).",
)
@format_opts
@mask_format_opt
@max_pixels_opt
@workers_opt
@scheduler_opt
@config_opt
def rasterize(inputs, keys, force, check, allow_empty, mask_format, **params):
    """Burn annotation files (or folders of them) into one class-index PNG per image.

    Pixel values are class ids (background 0, ignored pixels --ignore-index): the ids of
    --labels; else COCO's category ids; else the classes found, numbered in sorted order. The
    map is written to OUT/labels.txt; --check reads OUT/labels.txt.
    """
    from polymask.dataset import dataset_label_map, read_dataset
    from polymask.io.ownership import REFUSED_CODE
    from polymask.io.storage import as_path, atomic_write, remove_stale_temp
    from polymask.rasterize import (
        RasterizeOptions,
        check_targets,
        find_orphans,
        label_file_change,
        rasterize_items,
    )
    from polymask.report.problems import render_text
    from polymask.runtime.parallel import RunReport

    settings = settings_from(params, inputs)
    if not settings.output:
        raise click.UsageError("missing -o/--output (or `output` in [tool.polymask])")
    out = as_path(settings.output)
    with usage_errors():
        if mask_format == "tif" and not settings.format_options.reference:
            raise click.BadParameter("GeoTIFF masks need --reference", param_hint="--mask-format")
        skipped = []
        files = annotation_files(inputs, skipped, allow_empty)
        masks = [out] if check else []  # --check: the map the masks were made with
        dataset = read_dataset(files, settings, keys, masks)
        label_map, note = dataset_label_map(settings, dataset, masks)
    options = RasterizeOptions(
        out_dir=out,
        label_map=label_map,
        settings=settings,
        instances_dir=as_path(settings.instances) if settings.instances else None,
        overlay_dir=as_path(settings.overlay) if settings.overlay else None,
        force=force,
        check=check,
        mask_format=mask_format,
    )
    if not check:
        check_targets(dataset.items, options)  # nothing is written when a target is not ours
        new_map = label_file_change(out, label_map, force)
        out.mkdir(parents=True, exist_ok=True)
        folders = [as_path(f) for f in (out, settings.instances, settings.overlay) if f]
        for folder in folders:  # a folder inside another is swept with it, not twice
            if not any(other != folder and _inside(folder, other) for other in folders):
                remove_stale_temp(folder)
        if new_map:
            atomic_write(out / "labels.txt", label_map.to_text().encode())
    counts: dict[str, int] = {}
    if note:
        click.echo(f"note: {note}", err=True)
    problems = skipped + dataset.problems + dataset.labels.problems
    outcomes = []
    produced: set[str] = set()
    run = RunReport()
    with progress() as bar, usage_errors():
        task = bar.add_task("rasterize", total=len(dataset.items))
        for outcome in rasterize_items(dataset.items, options, run):
            bar.advance(task)
            problems += outcome.problems
            for image in outcome.images:
                produced.add(image.key)
                counts[image.status] = counts.get(image.status, 0) + 1
                if image.status in ("missing", "differs") or image.detail:
                    outcomes.append(image)
        failed_files = len({p.file for p in problems if p.severity == "error"})
    # only when every file was read: one that was not names no keys, its masks would look orphaned
    orphans = find_orphans(options, produced) if check and not failed_files else []
    problems.sort(key=lambda p: (p.file, p.path))
    click.echo(render_text(problems, full_list="polymask validate --output-format json"), nl=False)
    for image in sorted(outcomes, key=lambda i: i.key):
        label = image.status if image.status in ("missing", "differs") else "note"
        click.echo(f"{label}: {image.key}: {image.detail}")
    for path in orphans:
        click.echo(f"orphan: {path}: no annotation produces this mask")
    for line in run.retried:
        click.echo(f"retried: {line}", err=True)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no images"
    click.echo(f"{len(files)} files: {summary}; {failed_files} files with errors", err=True)
    if files and not counts and not failed_files and not allow_empty:  # files of no image
        click.echo(
            f"polymask: error: no images in {', '.join(inputs)} (--allow-empty accepts that)",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    bad = failed_files or counts.get("missing", 0) or counts.get("differs", 0) or orphans
    if any(p.code == REFUSED_CODE for p in problems):
        sys.exit(EXIT_USAGE)  # an output refused: an I/O error, not a check that failed
    sys.exit(EXIT_FAILED if bad else EXIT_OK)


def _inside(folder, other) -> bool:
    from polymask.io.storage import is_local

    if is_local(folder) and is_local(other):
        return folder.resolve().is_relative_to(other.resolve())
    return str(folder).startswith(str(other).rstrip("/") + "/")
