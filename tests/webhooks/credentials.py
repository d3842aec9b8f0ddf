"""The secrets each source signs or addresses its webhooks with in the webhook tests."""

WC_SECRET, SHOP_SECRET = "wc-secret", "whsec_" + "c2hvcC1zZWNyZXQta2V5"
B24_TOKEN, MC_SECRET, CDEK_SECRET = "b24-app-token", "mc-url-secret", "cdek-url-secret"
