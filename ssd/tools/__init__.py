"""The command-line tools' code. ``tools/<name>.py`` (the scripts lufficc users expect) and the
``ssd <name>`` console command both call ``ssd.tools.<name>.main(argv)``."""
