"""``polymask schema``: print or write the JSON Schemas of inputs and reports."""

from __future__ import annotations

import click


@click.command()
@click.argument("name", required=False)
@click.option(
    "--write",
    "folder",
    type=click.Path(file_okay=False),
    help="Write every schema file into this folder (the repository keeps them in schemas/).",
)
def schema(name, folder):
    """Print the JSON Schema NAME (see --list), or write them all with --write DIR."""
    from polymask.schemas import SCHEMAS, render, write_all

    if folder:
        for path in write_all(folder):
            click.echo(str(path))
        return
    if name is None:
        click.echo("\n".join(SCHEMAS))
        return
    if name not in SCHEMAS and f"{name}.schema.json" in SCHEMAS:
        name = f"{name}.schema.json"
    if name not in SCHEMAS:
        raise click.BadParameter(f"unknown schema; known: {', '.join(SCHEMAS)}", param_hint="NAME")
    click.echo(render(name), nl=False)
