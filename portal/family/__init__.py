"""Families: the dependents a patient account books for (children, parents, a spouse)."""
