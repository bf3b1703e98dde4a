"""`python -m pyrunc.oci`: the pyrunc-oci command."""

from pyrunc.oci.cli import console

if __name__ == "__main__":  # the supervisor's preload imports every module of the package
    console()
