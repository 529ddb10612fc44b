"""A plugin module that cannot be imported: discovery must report it and carry on."""

import watchfloor_example_dependency_that_is_not_installed  # noqa: F401
