"""Trader-set alerts: the conditions they watch (``expr``) and the engine that evaluates and fires them."""
