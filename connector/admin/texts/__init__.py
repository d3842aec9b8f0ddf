"""The console's texts, one module per language (see connector/admin/i18n.py)."""
