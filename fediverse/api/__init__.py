"""The Mastodon-compatible client API edge: OAuth 2, token auth, one module per resource."""
