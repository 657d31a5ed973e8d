"""``python -m bixse`` (and ``torchrun -m bixse``) runs the command line."""

from bixse.cli import main

if __name__ == "__main__":
    main()
