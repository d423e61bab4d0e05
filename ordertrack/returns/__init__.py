"""Returns: the customer's request and the merchant's handling of it, on a line of its own
beside the order's (docs/design.md, "The canonical model"). Pure rules live in `line`."""
