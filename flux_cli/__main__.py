from flux_cli.cli.main import main

main()
