"""Alerts: rules a trader sets, evaluated in the engine, delivered to the window and external channels."""
