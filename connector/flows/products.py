"""Products: the shop's product webhooks and polls keep the canonical catalogue
(connector/catalogue/), which copies every change to Bitrix24, Mailchimp and the price-list feed
(docs/catalogue.md). The handler lives with the catalogue; this name stays for the task kind."""

from __future__ import annotations

from connector.catalogue.intake import woocommerce_product

__all__ = ["woocommerce_product"]
