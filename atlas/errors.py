"""The one exception root of the library; every user-facing failure is an AtlasError."""


class AtlasError(Exception):
    """A failure the user can act on. The message is one line: the problem, the value, the fix."""


class ConfigError(AtlasError):
    """The configuration is invalid (bad value, unreadable file)."""


class Neo4jError(AtlasError):
    """Neo4j cannot be reached, started, or answered an error."""


class StoreError(AtlasError):
    """A store (catalog, DuckDB, Neo4j schema) is missing, corrupt or newer than this code."""


class InputError(AtlasError):
    """Bad user input: a file, a prompt, a shape that does not fit."""
