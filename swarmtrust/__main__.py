from swarmtrust.cli import main

main()
