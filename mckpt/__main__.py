from mckpt.cli.app import main

main()
