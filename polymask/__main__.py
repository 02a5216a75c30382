from polymask.cli.main import cli

cli()
