"""The sample lifecycle, in one package: a sample's way in (``intake``), the store
(``samples``), the index (``sample_index``), moderation, the backlog, collectors, exports,
forgetting, and which samples may be trained on (``training_set``)."""
