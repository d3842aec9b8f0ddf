"""The console's pages, one module per concern, each a Blueprint `bp` (see connector/admin)."""
