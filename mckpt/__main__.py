from mckpt.cli.entry import main

main()
