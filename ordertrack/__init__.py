"""ordertrack: verified webhooks in, one canonical order lifecycle, customer notifications out."""
