"""`python -m pyrunc.oci`: the pyrunc-oci command."""

from pyrunc.oci.cli import console

console()
