"""Named exceptions. The CLI turns any :class:`LatdynError` into one line and exit status 2."""


class LatdynError(Exception):
    """Base class: a problem the user can fix. The message says what is wrong and what to do."""


class InputError(LatdynError):
    """Bad input: a missing or unreadable file, an invalid setting."""


class StructureError(InputError):
    """The structure cannot be used: no periodic cell, overlapping atoms, ..."""


class ModelError(LatdynError):
    """The model cannot be loaded or cannot handle the structure."""


class SymmetryChangedError(LatdynError):
    """Relaxation changed the space group and the user did not allow it."""


class DataError(LatdynError):
    """Reference data is missing or malformed."""
