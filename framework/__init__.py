"""Kalshi event-contract trading framework."""
