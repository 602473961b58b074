from starbatch.cli import main

main()
