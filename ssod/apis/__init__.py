"""The command-line layer as a library: loading a config with its command-line overrides, pre-flight
checks of the data, launcher / process-group set-up, building the Runner, exporting a model.

Used by ``tools/*.py``; every function raises (:class:`~ssod.apis.config_checks.ConfigError`,
:class:`~ssod.apis.distributed.LauncherError`, ...) and never exits: the tools turn exceptions into
exit codes. Not imported by ``import ssod`` (nothing a config names lives here).
"""
