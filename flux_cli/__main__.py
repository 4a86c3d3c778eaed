from flux_cli.cli.main import run

run()
