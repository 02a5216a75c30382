"""Options that choose and configure the input format, shared by the commands that read
annotations (``validate``, ``rasterize``, ``stats``)."""

from __future__ import annotations

import functools

import click

from polymask.cli.options import usage_errors

FORMATS = ("labelme", "via", "cvat", "geojson", "coco", "label-studio")


def format_opts(fn):
    """--format, and the options that become one ``format_options`` argument of ``fn``:
    --label-attribute, --default-label, --label-property, --image-size, --crowd and
    --reference."""

    @functools.wraps(fn)
    def command(
        *args, label_attribute, default_label, label_property, image_size, crowd, reference, **kw
    ):
        with usage_errors():
            kw["format_options"] = build_format_options(
                label_attribute, label_property, image_size, reference, crowd, default_label
            )
        return fn(*args, **kw)

    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            default=None,
            help="Input format (default: detected from each file's content).",
        ),
        click.option(
            "--label-attribute",
            metavar="NAME",
            help="VIA: the region attribute holding the label (default: the only one, "
            "else 'label').",
        ),
        click.option(
            "--default-label",
            metavar="NAME",
            help="VIA: the label of regions without one (a single-class project leaves "
            "region_attributes empty).",
        ),
        click.option(
            "--label-property",
            metavar="NAME",
            help="GeoJSON: the feature property holding the label (default: the only "
            "one, else 'label').",
        ),
        click.option(
            "--image-size",
            metavar="WxH",
            help="VIA and pixel GeoJSON: the image size, instead of reading it from the "
            "image file next to the annotations.",
        ),
        click.option(
            "--crowd",
            type=click.Choice(["class", "ignore"]),
            default="class",
            show_default=True,
            help="COCO: paint crowd regions (iscrowd 1) as their category, or as ignore.",
        ),
        click.option(
            "--reference",
            type=click.Path(exists=True, dir_okay=False),
            help="GeoJSON: a georeferenced raster; coordinates are in its CRS and masks "
            "take its grid.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_format_options(
    label_attribute, label_property, image_size, reference, crowd="class", default_label=None
):
    """The :class:`FormatOptions` of the given option values (UsageError on a bad size)."""
    from polymask.formats.options import FormatOptions, parse_image_size

    return FormatOptions(
        label_attribute=label_attribute,
        label_property=label_property,
        image_size=parse_image_size(image_size) if image_size else None,
        reference=reference,
        crowd=crowd,
        default_label=default_label,
    )


mask_format_opt = click.option(
    "--mask-format",
    type=click.Choice(["png", "tif"]),
    default=None,
    help="Mask files: PNG, or GeoTIFF aligned with --reference (default: tif with --reference, "
    "else png).",
)
