"""`ordertrack simulate`: scripted order timelines, signed as each provider signs them and
posted to a running service, to watch (and test) ordertrack put an order's story together.

`stories` holds the timelines as data, `sources` one request builder per provider, `runner`
the posting, the progress lines and the final check against the read API."""
