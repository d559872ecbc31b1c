"""Networking: the cooperatives' e-commerce network (catalog, orders, partnerships)."""
