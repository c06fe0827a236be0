"""study-harness: the `study` command (plan, run, collect, analyse) around the Pulumi program."""

__version__ = "0.1.0"
