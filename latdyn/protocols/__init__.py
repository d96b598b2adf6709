"""Published protocols, each returning the settings of a latdyn workflow."""
