"""One module per webhook source: its test secret and how it signs a fixture into a request,
written from the source's documentation, independently of ordertrack's verifiers."""
