"""Rows -> Mastodon JSON entities. Kept apart from the models: the API shape is not the storage shape."""
