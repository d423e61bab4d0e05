"""One module per webhook source: its test secret and how a fixture becomes the request the
source sends. The signing is the simulator's (`sign`/`signature` in
simulate/sources/<source>.py, written from each source's documentation,
independently of ordertrack's verifiers): one signer, shipped and tested."""
