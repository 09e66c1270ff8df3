from monitor.cli.commands import main

main()
