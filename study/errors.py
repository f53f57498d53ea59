"""Errors a user can cause. The CLI turns them into one clear line and exit code 2."""


class UserError(Exception):
    """Bad input from the user (YAML, names, values, missing data): reported, never a traceback."""


class ConfigError(UserError):
    """An invalid config value; the message names the dotted key, the value and what is allowed."""
