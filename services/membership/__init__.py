"""Membership: cooperatives, members, RAT and the regulator's health view."""
