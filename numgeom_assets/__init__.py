"""Dagster definitions of numgeom: assets, checks, resources and jobs over numgeom_core."""
