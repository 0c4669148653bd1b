"""GroupLens MovieLens data: reading the archives and resolving where they come from."""
