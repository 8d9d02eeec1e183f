"""The numgeom assets, one module each."""
