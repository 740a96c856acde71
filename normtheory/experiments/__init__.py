"""Experiments that connect properties at init to training (claim R5)."""
